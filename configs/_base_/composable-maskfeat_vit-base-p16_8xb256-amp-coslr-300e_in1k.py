# mmpretrain's MaskFeat ViT-B/16 (300 epochs, HOG targets), run by our algorithm core: its
# loss is mmpretrain's MaskFeat loss exactly, plus the configured `supervisions`.
_base_ = [
    'mmpretrain::maskfeat/maskfeat_vit-base-p16_8xb256-amp-coslr-300e_in1k.py',
    './mim-deepsup_runtime.py',
]

model = dict(
    type='ComposableMaskFeat',
    backbone=dict(type='TappedMaskFeatViT'),
    supervisions=dict(),
)

# see the MAE base: no injected `_scope_` for `default_collate`, and mmpretrain's pipeline
# with our image loading (tests/test_package.py keeps the rest equal to mmpretrain's)
train_dataloader = dict(
    collate_fn=dict(_delete_=True, type='default_collate'),
    dataset=dict(pipeline=[
        dict(type='RobustLoadImageFromFile'),
        dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.5, 1.0),
             interpolation='bicubic'),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='BEiTMaskGenerator', input_size=14, num_masking_patches=78,
             min_num_patches=15),
        dict(type='PackInputs'),
    ]))
# as the MAE base: frozen parts left out with one log line, fused AdamW
optim_wrapper = dict(constructor='SkipFrozenOptimWrapperConstructor',
                     optimizer=dict(fused=True))
# checkpoints written atomically, the outdated one deleted after the new one is whole
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
