# mmpretrain's MAE ViT-B/16 (its 300-epoch recipe) plus DDAE's deep dynamic supervision, by
# config only: the final decoder's pixel loss weighted by distance, and light decoders on
# blocks 4 and 8 regressing the EMA teacher's layer-normalised features with distance
# weights. Every constant is ours (see README, "DDAE").
_base_ = '../_base_/composable-mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'

model = dict(
    head=dict(loss=dict(type='DDAEPixelLoss', criterion='L2')),
    supervisions=dict(ddae=dict(type='DDAESupervision')))
