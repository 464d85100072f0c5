# mmpretrain's MAE ViT-B/16 (300 epochs, ImageNet from data/imagenet), run by our algorithm
# core. With no `supervisions` it is MAE exactly; every MAE-based config inherits this file.
_base_ = [
    'mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py',
    './mim-deepsup_runtime.py',
]

model = dict(
    type='ComposableMAE',
    backbone=dict(type='TappedMAEViT'),
    supervisions=dict(),
)

# Inheriting through `mmpretrain::` injects `_scope_` into every dict, and mmengine would
# pass it on to `default_collate` (TypeError): restate the collate function without it.
train_dataloader = dict(collate_fn=dict(_delete_=True, type='default_collate'))
# frozen parts (EMA teacher, frozen target networks) left out of the optimizer with one log
# line each, not one warning per parameter
optim_wrapper = dict(constructor='SkipFrozenOptimWrapperConstructor')
# checkpoints written atomically, the outdated one deleted after the new one is whole
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
