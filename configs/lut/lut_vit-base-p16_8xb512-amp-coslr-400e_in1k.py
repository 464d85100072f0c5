# LUT (learning with unmasked tokens) on MAE, ViT-B/16, 400 epochs: mmpretrain's MAE plus
# the broader-contextualization loss (w_bc 0.25) on two views of each image.
# Settings from the released code: see README, "LUT".
_base_ = '../_base_/composable-mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'

model = dict(
    supervisions=dict(lut=dict(type='LUTSupervision', weight=0.25)),
    # released: the EMA averages every state-dict entry, BatchNorm statistics included
    teacher=dict(type='EMATeacher', average_buffers=True))

# view 1 (MIM view): SRC + flip; view 2 (context view): SRC + flip + colour + 3-Augment,
# the colour part on the batch (LUTDataPreprocessor)
view_crop = dict(type='SimpleResizedCrop', size=224)
train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='RobustLoadImageFromFile'),
        # both views' short-side resize, done once (SimpleResizedCrop then skips its own)
        dict(type='ResizeEdge', scale=224, edge='short', backend='pillow',
             interpolation='bicubic'),
        # two views, each with its own crop and flip
        dict(type='MultiView', num_views=2,
             transforms=[[view_crop, dict(type='RandomFlip', prob=0.5)]]),
        dict(type='PackInputs'),
    ]))
# the context view's colour jitter (p 0.8) and 3-Augment, as released, on the batch on the
# model's device (LUTDataPreprocessor); lut-cpuaug_*.py does them per image on the CPU
data_preprocessor = dict(type='LUTDataPreprocessor', context_augment=dict())

# released: no weight decay on any norm layer (the projector's BatchNorm too)
optim_wrapper = dict(paramwise_cfg=dict(norm_decay_mult=0.0))

param_scheduler = [
    dict(type='LinearLR', start_factor=0.0001, by_epoch=True, begin=0, end=40,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=360, by_epoch=True, begin=40, end=400,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=400)
