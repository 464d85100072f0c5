# DeepMIM on MAE, ViT-B/16, 300 epochs: auxiliary MAE decoders (512-d x 8 blocks x 16 heads,
# like the final one) on blocks 6, 8 and 10, raw-pixel (norm_pix) targets, weight 1 each.
_base_ = '../_base_/composable-mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'

model = dict(supervisions=dict(deepmim=dict(type='DeepMIMSupervision')))
