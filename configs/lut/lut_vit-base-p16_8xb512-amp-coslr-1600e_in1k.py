# LUT on MAE, ViT-B/16, 1600 epochs (the paper's 84.2 top-1 schedule).
_base_ = './lut_vit-base-p16_8xb512-amp-coslr-400e_in1k.py'

param_scheduler = [
    dict(type='LinearLR', start_factor=0.0001, by_epoch=True, begin=0, end=40,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=1560, by_epoch=True, begin=40, end=1600,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=1600)
