# A tiny MaskFeat for the CPU: 32 px crops of the demo data, patch 4 (8 x 8 patches, 25
# masked block-wise), a 6-block 64-d ViT predicting the 108 HOG values of each patch (2 px
# cells, a Gaussian window per patch). The base of the tiny DeepMIM and DDAE MaskFeat
# configs (tests).
_base_ = '../_base_/composable-maskfeat_vit-base-p16_8xb256-amp-coslr-300e_in1k.py'

img_size = 32
model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True, embed_dims=64, num_layers=6, num_heads=4, feedforward_channels=256),
        img_size=img_size,
        patch_size=4),
    neck=dict(in_channels=64),
    target_generator=dict(_delete_=True, type='PatchHOGTarget', patch_size=4, nbins=9,
                          pool=2, gaussian_window=4))

train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    dataset=dict(
        data_root='data/demo/imagenet/',
        pipeline=[
            dict(type='RobustLoadImageFromFile'),
            dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.5, 1.0),
                 interpolation='bicubic'),
            dict(type='RandomFlip', prob=0.5, direction='horizontal'),
            dict(type='BEiTMaskGenerator', input_size=8, num_masking_patches=25,
                 min_num_patches=4),
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
