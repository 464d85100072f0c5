# DeepMIM on the tiny CPU SimMIM: prediction heads on blocks 4, 5 and 7 of 8 (strides 8,
# 16 and 32). Tests.
_base_ = '../simmim/simmim_swin-tiny-p4_1xb32-20e_demo.py'

model = dict(supervisions=dict(deepmim=dict(type='DeepMIMSwinSupervision')))
