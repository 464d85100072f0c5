# DDAE on MAE, ViT-B/16, 100 epochs (the paper's 83.5 top-1 schedule length): MAE's final
# decoder with the distance-weighted pixel loss, and light decoders on blocks 4 and 8
# regressing the EMA teacher's layer-normalised features with distance weights. Every
# constant is ours (see README, "DDAE").
_base_ = '../_base_/composable-mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'

model = dict(
    head=dict(loss=dict(type='DistanceWeightedPixelLoss', criterion='L2')),
    supervisions=dict(ddae=dict(type='DeepDynamicSupervision')))

param_scheduler = [
    dict(type='LinearLR', start_factor=0.0001, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=90, by_epoch=True, begin=10, end=100,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=100)
