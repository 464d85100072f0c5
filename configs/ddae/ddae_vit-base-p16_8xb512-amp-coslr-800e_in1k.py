# DDAE, ViT-B/16, 800 epochs (the paper's longer schedule, 84.3 top-1).
_base_ = './ddae_vit-base-p16_8xb512-amp-coslr-100e_in1k.py'

param_scheduler = [
    dict(type='LinearLR', start_factor=0.0001, by_epoch=True, begin=0, end=40,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=760, by_epoch=True, begin=40, end=800,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=800)
