# LUT as lut_vit-base-p16_8xb512-amp-coslr-400e_in1k.py, with the context view's colour jitter and
# 3-Augment done per image on the CPU, in the data pipeline, as the released code does them
# (torchvision's ColorJitter on PIL images, then ThreeAugment), instead of on the batch on
# the device (ContextViewColour instead of LUTDataPreprocessor's ContextViewAugment). The
# same parameter distributions; the values differ by the CPU path's uint8 rounding and
# Pillow's blur (docs/performance.md, "LUT's colour augmentation on the device").
_base_ = './lut_vit-base-p16_8xb512-amp-coslr-400e_in1k.py'

view_crop = dict(type='SimpleResizedCrop', size=224)
train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='RobustLoadImageFromFile'),
        dict(type='ResizeEdge', scale=224, edge='short', backend='pillow',
             interpolation='bicubic'),
        dict(type='MultiView', num_views=[1, 1], transforms=[
            [view_crop, dict(type='RandomFlip', prob=0.5)],
            [view_crop, dict(type='RandomFlip', prob=0.5), dict(type='ContextViewColour')],
        ]),
        dict(type='PackInputs'),
    ]))
data_preprocessor = dict(context_augment=None)
