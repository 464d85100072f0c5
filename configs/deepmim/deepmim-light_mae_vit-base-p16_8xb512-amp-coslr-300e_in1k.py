# DeepMIM with light auxiliary decoders (ours: 256-d x 2 blocks x 8 heads) for less
# overhead; the final decoder stays MAE's 512-d x 8 blocks.
_base_ = './deepmim_mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'

model = dict(supervisions=dict(deepmim=dict(decoder=dict(light=True))))
