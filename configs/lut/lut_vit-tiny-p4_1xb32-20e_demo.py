# LUT on the tiny CPU MAE (6 blocks, 64-d, 32 px): two 32 px views, a 256-wide projector
# and predictor whose BatchNorm uses the statistics of every process's batch when run
# distributed, as the released SyncBN does (AllReduceBN: torch's SyncBN needs a GPU).
# Tests and the demo.
_base_ = '../mae/mae_vit-tiny-p4_1xb32-20e_demo.py'

head = dict(hid_channels=256, norm_cfg=dict(type='AllReduceBN'))
model = dict(
    supervisions=dict(
        lut=dict(type='LUTSupervision', weight=0.25, projector=head, predictor=head)),
    teacher=dict(type='EMATeacher', average_buffers=True))

view_crop = dict(type='SimpleResizedCrop', size=32)
train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='RobustLoadImageFromFile'),
        # both views' short-side resize, done once (SimpleResizedCrop then skips its own)
        dict(type='ResizeEdge', scale=32, edge='short', backend='pillow',
             interpolation='bicubic'),
        dict(type='MultiView', num_views=[1, 1], transforms=[
            [view_crop, dict(type='RandomFlip', prob=0.5)],
            [
                view_crop,
                dict(type='RandomFlip', prob=0.5),
                # torchvision's ColorJitter, as released (mmpretrain's fails on numpy 2
                # for a negative hue shift: mmcv's adjust_hue casts it to uint8)
                dict(type='NumpyToPIL', to_rgb=True),
                dict(type='RandomApply', prob=0.8, transforms=[
                    dict(type='torchvision/ColorJitter', brightness=0.4, contrast=0.4,
                         saturation=0.2, hue=0.1)
                ]),
                dict(type='PILToNumpy', to_bgr=True),
                dict(type='ThreeAugment'),
            ],
        ]),
        dict(type='PackInputs'),
    ]))
optim_wrapper = dict(paramwise_cfg=dict(norm_decay_mult=0.0))
