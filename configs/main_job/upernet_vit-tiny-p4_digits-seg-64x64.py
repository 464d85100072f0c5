# The main job's segmentation step, the same for every method: the tiny UperNet on the
# digit canvases that tools/main_job.py writes (64 x 64, 2-4 MNIST digits each; label 0 =
# ignored rim, 1 = background, 2 + d = digit d). What differs from the tiny base, and why
# (configs/main_job/README.md, docs/main_job.md "The UperNet step"):
# - it trains on 32 px crops of the canvases at their own scale, the resolution and scale
#   the encoder was pretrained at (no position-embedding interpolation, no rescaling), and
#   infers by sliding 32 px windows (stride 2/3 of the window, as the base);
# - the cross-entropy is class-weighted by median frequency (background is 92 % of the
#   labelled pixels), with a loss that accepts ignored pixels; these weights are the digit
#   canvases', and the main job computes them from any --seg-data's training labels;
# - a cheaper UperNet (32 channels, its pyramid from 32 x 32 down) and a short schedule:
#   AdamW lr 2e-3, layer decay 0.9, 1,200 iterations of 8 crops.
_base_ = '../_base_/upernet-mae_vit-tiny-p4_1xb8-100i_demo-ade-64x64.py'

num_classes = 11
crop_size = (32, 32)
class_weight = [0.033, 0.755, 1.733, 0.925, 0.977, 1.159, 1.096, 1.0, 1.205, 0.92, 1.098]
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(img_size=crop_size),
    neck=dict(rescales=[2, 1, 0.5, 0.25]),
    decode_head=dict(num_classes=num_classes, channels=32, loss_decode=dict(
        _delete_=True, type='ClassWeightedCrossEntropyLoss', class_weight=class_weight,
        loss_weight=1.0)),
    auxiliary_head=dict(num_classes=num_classes, channels=16, loss_decode=dict(
        _delete_=True, type='ClassWeightedCrossEntropyLoss', class_weight=class_weight,
        loss_weight=0.4)),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(21, 21)))
optim_wrapper = dict(optimizer=dict(lr=2e-3), paramwise_cfg=dict(layer_decay_rate=0.9))
max_iters = 1200
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=15),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=15, end=max_iters, by_epoch=False),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
digits = dict(
    data_root='data/digits/seg',
    img_suffix='.png',
    metainfo=dict(
        classes=('background', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'),
        palette=[[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200],
                 [245, 130, 48], [145, 30, 180], [70, 240, 240], [240, 50, 230],
                 [210, 245, 60], [250, 190, 212]]))
train_dataloader = dict(dataset=dict(
    pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', reduce_zero_label=True),
        dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PhotoMetricDistortion'),
        dict(type='PackSegInputs'),
    ],
    **digits))
val_dataloader = dict(dataset=digits)
test_dataloader = val_dataloader
