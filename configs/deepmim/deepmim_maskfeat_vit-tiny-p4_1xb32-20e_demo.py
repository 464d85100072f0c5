# DeepMIM on the tiny CPU MaskFeat: HOG heads on blocks 3, 4 and 5. Tests.
_base_ = '../maskfeat/maskfeat_vit-tiny-p4_1xb32-20e_demo.py'

model = dict(supervisions=dict(deepmim=dict(type='DeepMIMFeatureHeads')))
