# A tiny MAE for the CPU: 32 px crops of the demo data (tools/make_demo_data.py), patch 4
# (64 patches), a 6-block 64-d ViT and a 2-block decoder. Used by the README demo and tests.
_base_ = '../_base_/composable-mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'

img_size = 32
patch_size = 4
model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True, embed_dims=64, num_layers=6, num_heads=4, feedforward_channels=256),
        img_size=img_size,
        patch_size=patch_size),
    neck=dict(
        num_patches=(img_size // patch_size)**2,
        patch_size=patch_size,
        embed_dim=64,
        decoder_embed_dim=64,
        decoder_depth=2,
        decoder_num_heads=4),
    head=dict(patch_size=patch_size))

train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    dataset=dict(
        data_root='data/demo/imagenet/',
        pipeline=[
            dict(type='RobustLoadImageFromFile'),
            dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.2, 1.0),
                 backend='pillow', interpolation='bicubic'),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PackInputs'),
        ]))

# no accelerator: plain fp32 optimizer wrapper (AmpOptimWrapper needs CUDA/NPU/MLU)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor={{_base_.optim_wrapper.constructor}},
    optimizer={{_base_.optim_wrapper.optimizer}},
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
resume = False
