# DDAE on PixMIM, ViT-B/16, 300 epochs: the final decoder's low-frequency pixel loss
# weighted by distance, and light decoders on blocks 4 and 8 regressing the EMA teacher's
# features with distance weights.
_base_ = '../pixmim/pixmim_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'

model = dict(
    head=dict(loss=dict(type='DDAEPixelLoss', criterion='L2')),
    supervisions=dict(ddae=dict(type='DDAESupervision')))
