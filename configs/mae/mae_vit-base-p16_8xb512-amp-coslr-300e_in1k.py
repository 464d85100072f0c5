# MAE ViT-B/16, 300 epochs on ImageNet (data/imagenet/{train,meta/train.txt}), as mmpretrain
# trains it, through mim-deepsup's ComposableMAE with no extra supervision.
_base_ = '../_base_/composable-mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'
