# A tiny SimMIM for the CPU: 64 px crops of the demo data, a 4-stage Swin of 2 blocks each
# (32-d at patch 4 to 256-d at stride 32, windows of 2), 16 px mask patches (a 4 x 4 grid,
# 10 of 16 masked). The base of the tiny DeepMIM and DDAE SimMIM configs (tests).
_base_ = '../_base_/composable-simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py'

img_size = 64
model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=32, depths=[2, 2, 2, 2], num_heads=[2, 2, 4, 8]),
        img_size=img_size,
        stage_cfgs=dict(block_cfgs=dict(window_size=2))),
    neck=dict(in_channels=256, encoder_stride=32))

train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    dataset=dict(
        data_root='data/demo/imagenet/',
        pipeline=[
            dict(type='RobustLoadImageFromFile'),
            dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.67, 1.0)),
            dict(type='RandomFlip', prob=0.5),
            dict(type='SimMIMMaskGenerator', input_size=img_size, mask_patch_size=16,
                 model_patch_size=4, mask_ratio=0.6),
            dict(type='PackInputs'),
        ]))

# no accelerator: plain fp32 optimizer wrapper (AmpOptimWrapper needs CUDA/NPU/MLU)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor={{_base_.optim_wrapper.constructor}},
    optimizer={{_base_.optim_wrapper.optimizer}},
    clip_grad={{_base_.optim_wrapper.clip_grad}},
    paramwise_cfg={{_base_.optim_wrapper.paramwise_cfg}})

max_epochs = 20
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 2, by_epoch=True, begin=2,
         end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=5, max_keep_ckpts=2))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
