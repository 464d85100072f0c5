# mmpretrain's SimMIM Swin-B (100 epochs, 192 px, 32 px mask patches), run by our algorithm
# core: its loss is mmpretrain's SimMIM loss exactly, plus the configured `supervisions`.
_base_ = [
    'mmpretrain::simmim/simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py',
    './mim-deepsup_runtime.py',
]

model = dict(
    type='ComposableSimMIM',
    backbone=dict(type='TappedSimMIMSwin'),
    supervisions=dict(),
)

# see the MAE base: no injected `_scope_` for `default_collate`, and mmpretrain's pipeline
# with our image loading (tests/test_package.py keeps the rest equal to mmpretrain's)
train_dataloader = dict(
    collate_fn=dict(_delete_=True, type='default_collate'),
    dataset=dict(pipeline=[
        dict(type='RobustLoadImageFromFile'),
        dict(type='RandomResizedCrop', scale=192, crop_ratio_range=(0.67, 1.0)),
        dict(type='RandomFlip', prob=0.5),
        dict(type='SimMIMMaskGenerator', input_size=192, mask_patch_size=32,
             model_patch_size=4, mask_ratio=0.6),
        dict(type='PackInputs'),
    ]))
# as the MAE base: frozen parts left out with one log line, fused AdamW
optim_wrapper = dict(constructor='SkipFrozenOptimWrapperConstructor',
                     optimizer=dict(fused=True))
# checkpoints written atomically, the outdated one deleted after the new one is whole
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
