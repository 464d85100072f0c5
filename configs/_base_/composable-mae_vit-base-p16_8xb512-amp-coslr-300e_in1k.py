# mmpretrain's MAE ViT-B/16 (300 epochs, ImageNet from data/imagenet), run by our algorithm
# core. With no `supervisions` it is MAE exactly; every method config inherits this file.
_base_ = 'mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'

custom_imports = dict(imports=['mim_deepsup'], allow_failed_imports=False)

model = dict(
    type='ComposableMAE',
    backbone=dict(type='TappedMAEViT'),
    supervisions=dict(),
)

# Inheriting through `mmpretrain::` injects `_scope_` into every dict, and mmengine would
# pass it on to `default_collate` (TypeError): restate the collate function without it.
train_dataloader = dict(collate_fn=dict(_delete_=True, type='default_collate'))

# progress t for scheduled components; EMA teacher update after each optimizer step;
# random-generator state in checkpoints, so that resuming continues the same draws;
# checkpoints that torch >= 2.6 loads with weights_only=True
custom_hooks = [
    dict(type='TrainingProgressHook'),
    dict(type='EMATeacherHook'),
    dict(type='RandomStateHook'),
    dict(type='WeightsOnlyCheckpointHook'),
]
