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
# The pipeline is mmpretrain's with our image loading (a bad file stops the run naming it,
# or with on_bad_image='skip' is skipped and counted); mmengine replaces lists whole, so
# the rest is restated as mmpretrain has it (tests/test_package.py keeps them equal).
train_dataloader = dict(
    collate_fn=dict(_delete_=True, type='default_collate'),
    dataset=dict(pipeline=[
        dict(type='RobustLoadImageFromFile'),
        dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.2, 1.0),
             backend='pillow', interpolation='bicubic'),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackInputs'),
    ]))
# frozen parts (EMA teacher, frozen target networks) left out of the optimizer with one log
# line each, not one warning per parameter. Fused AdamW: mmengine makes one parameter group
# per parameter, which the default AdamW steps one by one in Python (CPU: mmpretrain's MAE
# ViT-B step takes 1.037x the fused one, docs/benchmarks.md); the same update to ~1e-7
# (tests/test_fast_paths.py)
optim_wrapper = dict(constructor='SkipFrozenOptimWrapperConstructor',
                     optimizer=dict(fused=True))
# the same seed on every process (mmpretrain's MAE: diff_rank_seed=True). Masks stay
# independent across processes (ComposableMAE draws the global batch's noise and each
# process keeps its images' rows) and equal a 1-process run's; every process's generator
# then has the state RandomStateHook saves (rank 0's), so a resumed DDP run draws the masks
# of an uninterrupted one. Dataloader workers (num_workers > 0) are seeded per process by
# mmengine anyway; with num_workers=0 every process would draw the same augmentations.
randomness = dict(seed=0, diff_rank_seed=False)
# checkpoints written atomically, the outdated one deleted after the new one is whole
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
