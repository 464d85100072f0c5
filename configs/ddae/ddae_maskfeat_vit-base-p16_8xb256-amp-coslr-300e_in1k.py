# DDAE on MaskFeat ViT-B/16, 300 epochs: MaskFeat's HOG loss weighted by each masked
# patch's distance to the visible ones, and LayerNorm + Linear heads on blocks 4 and 8
# regressing the EMA teacher's features with distance weights (ours).
_base_ = '../_base_/composable-maskfeat_vit-base-p16_8xb256-amp-coslr-300e_in1k.py'

model = dict(
    head=dict(loss=dict(type='DDAEPixelLoss', criterion='L2')),
    supervisions=dict(ddae=dict(type='DDAESupervision')))
