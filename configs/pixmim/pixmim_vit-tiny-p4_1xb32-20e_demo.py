# PixMIM on the tiny CPU MAE (32 px, patch 4): the low-pass radius and the crop's padding
# scaled from 224 px (40 -> 6, 4 px -> 1). Tests and the demo.
_base_ = '../mae/mae_vit-tiny-p4_1xb32-20e_demo.py'

model = dict(target_generator=dict(type='LowFreqPixelTarget', radius=6, img_size=32))

train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='RobustLoadImageFromFile'),
    dict(type='ResizeEdge', scale=32, edge='short', backend='pillow',
         interpolation='bilinear'),
    dict(type='RandomCrop', crop_size=32, padding=1, padding_mode='reflect'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]))
