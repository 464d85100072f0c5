# DeepMIM on BEiT-v2, ViT-B/16, 300 epochs: blocks 6, 8 and 10 each predict the VQ-KD codes
# of the masked patches with their own light head (LayerNorm + Linear, ours), cross-entropy
# weight 1 each, besides BEiT-v2's own two losses.
_base_ = '../_base_/composable-beitv2_beit-base-p16_8xb256-amp-coslr-300e_in1k.py'

model = dict(supervisions=dict(deepmim=dict(type='DeepMIMTokenSupervision')))
