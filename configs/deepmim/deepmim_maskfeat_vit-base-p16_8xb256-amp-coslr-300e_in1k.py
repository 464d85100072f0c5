# DeepMIM on MaskFeat ViT-B/16, 300 epochs: LayerNorm + Linear heads on blocks 6, 8 and 10,
# each predicting the 108 HOG values of the masked patches with MaskFeat's L2 (ours).
_base_ = '../_base_/composable-maskfeat_vit-base-p16_8xb256-amp-coslr-300e_in1k.py'

model = dict(supervisions=dict(deepmim=dict(type='DeepMIMFeatureHeads')))
