# DeepMIM on SimMIM Swin-B, 100 epochs at 192 px: SimMIM's linear decoder (LayerNorm,
# 1 x 1 conv, pixel shuffle) on blocks 12, 16 and 20 of 24 (stage 3, stride 16, 512-d),
# each with SimMIM's L1 over the masked pixels, weight 1 each (ours).
_base_ = '../_base_/composable-simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py'

model = dict(supervisions=dict(deepmim=dict(type='DeepMIMSwinSupervision')))
