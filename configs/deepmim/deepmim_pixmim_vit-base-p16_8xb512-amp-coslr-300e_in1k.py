# DeepMIM on PixMIM, ViT-B/16, 300 epochs: auxiliary MAE decoders on blocks 6, 8 and 10,
# all decoders regressing PixMIM's low-frequency norm-pix patches.
_base_ = '../pixmim/pixmim_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'

model = dict(supervisions=dict(deepmim=dict(type='DeepMIMSupervision')))
