# DDAE, ViT-B/16, 100 epochs (the paper's 83.5 top-1 schedule length): the MAE + deep
# dynamic supervision model with a 100-epoch schedule (10 warm-up epochs, ours).
_base_ = './ddae_mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'

param_scheduler = [
    dict(type='LinearLR', start_factor=0.0001, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=90, by_epoch=True, begin=10, end=100,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=100)
