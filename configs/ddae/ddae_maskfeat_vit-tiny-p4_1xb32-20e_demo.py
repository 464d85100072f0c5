# DDAE on the tiny CPU MaskFeat: the distance-weighted HOG loss, heads on blocks 2 and 4
# regressing the EMA teacher's features. Tests.
_base_ = '../maskfeat/maskfeat_vit-tiny-p4_1xb32-20e_demo.py'

model = dict(
    head=dict(loss=dict(type='DDAEPixelLoss', criterion='L2')),
    supervisions=dict(ddae=dict(type='DDAESupervision')))
