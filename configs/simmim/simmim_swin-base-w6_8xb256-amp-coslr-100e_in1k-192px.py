# SimMIM Swin-B/w6, 100 epochs at 192 px on ImageNet, as mmpretrain trains it, through
# mim-deepsup's ComposableSimMIM with no extra supervision.
_base_ = '../_base_/composable-simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py'
