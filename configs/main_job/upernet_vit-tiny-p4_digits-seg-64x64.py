# The main job's segmentation step, the same for every method: the tiny UperNet on the
# digit canvases that tools/main_job.py writes (64 x 64, 2-4 MNIST digits each; label 0 =
# ignored rim, 1 = background, 2 + d = digit d). Besides the data, the UperNet is made
# cheaper (32 channels, its pyramid from 32 x 32 down instead of 64 x 64: 0.35 s instead of
# 1.05 s per iteration on one core) and its optimizer set for a short schedule (lr 2e-3,
# layer decay 0.9); configs/main_job/README.md gives the measurements.
_base_ = '../_base_/upernet-mae_vit-tiny-p4_1xb8-100i_demo-ade-64x64.py'

num_classes = 11
model = dict(neck=dict(rescales=[2, 1, 0.5, 0.25]),
             decode_head=dict(num_classes=num_classes, channels=32),
             auxiliary_head=dict(num_classes=num_classes, channels=16))
optim_wrapper = dict(optimizer=dict(lr=2e-3), paramwise_cfg=dict(layer_decay_rate=0.9))
max_iters = 150
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
train_dataloader = dict(dataset=digits)
val_dataloader = dict(dataset=digits)
test_dataloader = val_dataloader
