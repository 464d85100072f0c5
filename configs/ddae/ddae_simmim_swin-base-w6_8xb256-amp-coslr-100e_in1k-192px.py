# DDAE's distance weighting on SimMIM Swin-B, 100 epochs at 192 px: SimMIM's L1 over the
# masked pixels weighted by each 32 px mask patch's distance to the visible ones, counted
# on the mask's own 6 x 6 grid, with DDAE's schedule at depth 1 (ours).
_base_ = '../_base_/composable-simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py'

model = dict(head=dict(type='DDAESimMIMHead', mask_patch_size=32))
