# MaskFeat ViT-B/16, 300 epochs on ImageNet, as mmpretrain trains it, through mim-deepsup's
# ComposableMaskFeat with no extra supervision.
_base_ = '../_base_/composable-maskfeat_vit-base-p16_8xb256-amp-coslr-300e_in1k.py'
