# DDAE's distance weighting on the tiny CPU SimMIM, on its 4 x 4 grid of 16 px mask patches.
# Tests.
_base_ = '../simmim/simmim_swin-tiny-p4_1xb32-20e_demo.py'

model = dict(head=dict(type='DDAESimMIMHead', mask_patch_size=16))
