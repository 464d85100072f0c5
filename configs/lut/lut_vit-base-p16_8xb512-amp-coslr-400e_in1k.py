# LUT (learning with unmasked tokens) on MAE, ViT-B/16, 400 epochs: mmpretrain's MAE plus
# the broader-contextualization loss (w_bc 0.25) on two views of each image.
# Settings from the released code: see README, "LUT".
_base_ = '../_base_/composable-mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'

model = dict(
    supervisions=dict(lut=dict(type='LUTSupervision', weight=0.25)),
    # released: the EMA averages every state-dict entry, BatchNorm statistics included
    teacher=dict(type='EMATeacher', average_buffers=True))

# view 1 (MIM view): SRC + flip; view 2 (context view): SRC + flip + colour + 3-Augment
view_crop = dict(type='SimpleResizedCrop', size=224)
train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='RobustLoadImageFromFile'),
        # both views' short-side resize, done once (SimpleResizedCrop then skips its own)
        dict(type='ResizeEdge', scale=224, edge='short', backend='pillow',
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

# released: no weight decay on any norm layer (the projector's BatchNorm too)
optim_wrapper = dict(paramwise_cfg=dict(norm_decay_mult=0.0))

param_scheduler = [
    dict(type='LinearLR', start_factor=0.0001, by_epoch=True, begin=0, end=40,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=360, by_epoch=True, begin=40, end=400,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=400)
