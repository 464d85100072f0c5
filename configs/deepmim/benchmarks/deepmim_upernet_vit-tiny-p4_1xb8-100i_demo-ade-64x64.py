# DeepMIM's segmentation config on the CPU-sized model and demo data: the tiny base plus
# DeepMIM's optimizer (lr 5e-5, layer decay 0.9; a test keeps it equal to the ViT-B config's).
_base_ = '../../_base_/upernet-mae_vit-tiny-p4_1xb8-100i_demo-ade-64x64.py'

optim_wrapper = dict(optimizer=dict(lr=5e-5), paramwise_cfg=dict(layer_decay_rate=0.9))
