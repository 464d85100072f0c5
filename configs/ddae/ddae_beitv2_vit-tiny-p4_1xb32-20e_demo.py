# DDAE on the tiny CPU BEiT-v2 (6 blocks, 64-d, 32 px), by config only: BEiT-v2's token loss
# weighted by the distance weights of its block-wise mask, and LayerNorm + Linear heads on
# blocks 2 and 4 regressing the EMA teacher's features with distance weights. Tests.
_base_ = '../beitv2/beitv2_vit-tiny-p4_1xb32-20e_demo.py'

model = dict(
    head=dict(type='DDAEBEiTV2Head'),
    supervisions=dict(ddae=dict(type='DDAESupervision')))
