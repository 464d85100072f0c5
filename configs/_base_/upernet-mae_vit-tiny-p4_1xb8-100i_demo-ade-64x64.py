# The MAE UperNet base shrunk for the CPU: the tiny pretraining ViT (patch 4, 6 blocks,
# 64-d; pretrained at 32 px, its position embedding interpolated to 64 px by mmseg), a
# 64-channel UperNet, BatchNorm instead of SyncBN (neck and heads: SyncBN needs CUDA), fp32, 100 iterations on the demo data
# in ADE20K's layout (tools/make_demo_data.py: background + 4 shape classes, label 0 =
# ignored outlines). The base of each method's tiny segmentation config (tests, and
# tools/pretrain_to_seg.sh); everything not restated here is the ViT-B config's.
_base_ = './upernet-mae_vit-base-p16_8xb2-amp-160k_ade20k-512x512.py'

crop_size = (64, 64)
embed_dims = 64
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained='{{$PRETRAINED:work_dirs/pretrained/tiny_mmseg.pth}}',
    backbone=dict(img_size=crop_size, patch_size=4, embed_dims=embed_dims, num_layers=6,
                  num_heads=4, out_indices=[1, 2, 3, 5]),  # ViT-B: 4, 6, 8, 12 of 12
    neck=dict(embed_dim=embed_dims, norm_cfg=norm_cfg),
    decode_head=dict(in_channels=[embed_dims] * 4, channels=embed_dims, num_classes=5,
                     norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=embed_dims, channels=32, num_classes=5,
                        norm_cfg=norm_cfg),
    test_cfg=dict(crop_size=crop_size, stride=(43, 43)))  # ViT-B: 512 / 341

demo = dict(
    type='BaseSegDataset',
    data_root='data/demo/ade',
    img_suffix='.jpg',
    seg_map_suffix='.png',
    reduce_zero_label=True,
    metainfo=dict(classes=('background', 'disc', 'ring', 'square', 'triangle'),
                  palette=[[120, 120, 120], [230, 25, 75], [60, 180, 75], [0, 130, 200],
                           [245, 130, 48]]))
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(
        _delete_=True,
        data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', reduce_zero_label=True),
            dict(type='RandomResize', scale=(128, 64), ratio_range=(0.5, 2.0),
                 keep_ratio=True),
            dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PhotoMetricDistortion'),
            dict(type='PackSegInputs'),
        ],
        **demo))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(
        _delete_=True,
        data_prefix=dict(img_path='images/validation',
                         seg_map_path='annotations/validation'),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(128, 64), keep_ratio=True),
            dict(type='LoadAnnotations', reduce_zero_label=True),
            dict(type='PackSegInputs'),
        ],
        **demo))
test_dataloader = val_dataloader

# no accelerator: plain fp32 wrapper; the ViT-B recipe's optimizer and layer decay
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor={{_base_.optim_wrapper.constructor}},
    optimizer={{_base_.optim_wrapper.optimizer}},
    paramwise_cfg=dict(num_layers=6, layer_decay_rate=0.65))
max_iters = 100
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=10),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=10, end=max_iters, by_epoch=False),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_iters))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
