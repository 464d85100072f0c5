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
        # two views, each with its own crop and flip
        dict(type='MultiView', num_views=2,
             transforms=[[view_crop, dict(type='RandomFlip', prob=0.5)]]),
        dict(type='PackInputs'),
    ]))
# the context view's colour jitter (p 0.8) and 3-Augment, as released, on the batch on the
# model's device (LUTDataPreprocessor); lut-cpuaug_*.py does them per image on the CPU
data_preprocessor = dict(type='LUTDataPreprocessor', context_augment=dict())
optim_wrapper = dict(paramwise_cfg=dict(norm_decay_mult=0.0))
