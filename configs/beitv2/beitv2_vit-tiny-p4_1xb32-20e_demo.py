# A tiny BEiT-v2 for the CPU: 32 px crops of the demo data, patch 4 (8 x 8 patches, 26
# masked block-wise), a 6-block 64-d ViT and a random (untrained) tiny VQ-KD with 64 codes.
# The base of the tiny DeepMIM and DDAE BEiT-v2 configs (tests).
_base_ = '../_base_/composable-beitv2_beit-base-p16_8xb256-amp-coslr-300e_in1k.py'

img_size = 32
patch_size = 4
num_embed = 64
tiny_arch = dict(embed_dims=64, num_layers=6, num_heads=4, feedforward_channels=256)
model = dict(
    backbone=dict(arch=dict(_delete_=True, **tiny_arch), img_size=img_size,
                  patch_size=patch_size),
    # BEiTV2Neck checks a custom arch for num_layers but reads depth
    neck=dict(early_layers=3, backbone_arch=dict(_delete_=True, depth=6, **tiny_arch)),
    head=dict(embed_dims=64, num_embed=num_embed),
    target_generator=dict(
        num_embed=num_embed,
        encoder_config=dict(arch=dict(_delete_=True, embed_dims=32, num_layers=2,
                                      num_heads=2, feedforward_channels=64),
                            img_size=img_size, patch_size=patch_size),
        init_cfg=None))  # random weights: nothing to download

train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    dataset=dict(
        data_root='data/demo/imagenet/',
        pipeline=[
            dict(type='RobustLoadImageFromFile'),
            dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.),
            dict(type='RandomFlip', prob=0.5, direction='horizontal'),
            dict(type='RandomResizedCropAndInterpolationWithTwoPic', size=img_size,
                 second_size=img_size, interpolation='bicubic',
                 second_interpolation='bicubic', scale=(0.2, 1.0)),
            dict(type='BEiTMaskGenerator', input_size=(8, 8), num_masking_patches=26,
                 max_num_patches=26, min_num_patches=4),
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
