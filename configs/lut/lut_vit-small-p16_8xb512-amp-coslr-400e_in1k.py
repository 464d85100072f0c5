# LUT on MAE, ViT-S/16 (DeiT-S shape: 384-d, 12 blocks, 6 heads), 400 epochs, w_bc 1.0
# (the paper's ViT-S weight); the decoder stays 512-d x 8 blocks, as released.
_base_ = './lut_vit-base-p16_8xb512-amp-coslr-400e_in1k.py'

model = dict(
    backbone=dict(arch='deit-small'),
    neck=dict(embed_dim=384),
    supervisions=dict(lut=dict(weight=1.0)))
