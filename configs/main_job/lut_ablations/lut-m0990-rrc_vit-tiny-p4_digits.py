# LUT at this scale: each view a RandomResizedCrop(0.2-1) as MAE's, instead of LUT's
# simple resized crop (a shift of at most 4 px).
_base_ = './lut-m0990_vit-tiny-p4_digits.py'

view_crop = dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.2, 1.0),
                 backend='pillow', interpolation='bicubic')
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='RobustLoadImageFromFile'),
    dict(type='ResizeEdge', scale=32, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='MultiView', num_views=2,
         transforms=[[view_crop, dict(type='RandomFlip', prob=0.5)]]),
    dict(type='PackInputs'),
]))
