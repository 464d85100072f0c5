# DDAE on BEiT-v2, ViT-B/16, 300 epochs, by config only: BEiT-v2's two token losses weighted
# by the distance weights of its block-wise mask, and LayerNorm + Linear heads on blocks 4
# and 8 regressing the EMA teacher's layer-normalised features with distance weights. Every
# constant is ours (see README, "DDAE").
_base_ = '../_base_/composable-beitv2_beit-base-p16_8xb256-amp-coslr-300e_in1k.py'

model = dict(
    head=dict(type='DDAEBEiTV2Head'),
    supervisions=dict(ddae=dict(type='DDAESupervision')))
