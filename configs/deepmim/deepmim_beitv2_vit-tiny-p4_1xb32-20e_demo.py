# DeepMIM on the tiny CPU BEiT-v2 (6 blocks, 64-d, 32 px): light code heads on blocks 3, 4
# and 5. Used by tests.
_base_ = '../beitv2/beitv2_vit-tiny-p4_1xb32-20e_demo.py'

model = dict(supervisions=dict(deepmim=dict(type='DeepMIMTokenSupervision')))
