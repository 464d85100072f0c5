# mmpretrain's BEiT-v2 ViT-B/16 (300 epochs, VQ-KD targets), run by our algorithm core: its
# loss is mmpretrain's BEiT loss exactly, plus the configured `supervisions`.
_base_ = [
    'mmpretrain::beitv2/beitv2_beit-base-p16_8xb256-amp-coslr-300e_in1k.py',
    './mim-deepsup_runtime.py',
]

model = dict(
    type='ComposableBEiT',
    backbone=dict(type='TappedBEiTPretrainViT'),
    supervisions=dict(),
)

# see the MAE base: no injected `_scope_` for `default_collate`, and mmpretrain's pipeline
# with our image loading (tests/test_package.py keeps the rest equal to mmpretrain's)
train_dataloader = dict(
    collate_fn=dict(_delete_=True, type='default_collate'),
    dataset=dict(pipeline=[
        dict(type='RobustLoadImageFromFile'),
        dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='RandomResizedCropAndInterpolationWithTwoPic', size=224, second_size=224,
             interpolation='bicubic', second_interpolation='bicubic', scale=(0.2, 1.0)),
        dict(type='BEiTMaskGenerator', input_size=(14, 14), num_masking_patches=75,
             max_num_patches=75, min_num_patches=16),
        dict(type='PackInputs'),
    ]))
# frozen parts (EMA teacher, frozen target networks) left out of the optimizer with one log
# line each, not one warning per parameter. Fused AdamW: mmengine makes one parameter group
# per parameter, which the default AdamW steps one by one in Python (CPU: mmpretrain's MAE
# ViT-B step takes 1.037x the fused one, docs/benchmarks.md); the same update to ~1e-7
# (tests/test_fast_paths.py)
optim_wrapper = dict(constructor='SkipFrozenOptimWrapperConstructor',
                     optimizer=dict(fused=True))
# mmpretrain sets True because the VQ-KD tokenizer's parameters require grad but get none;
# ComposableBEiT freezes them, so DDP need not search the graph for unused ones every step
find_unused_parameters = False
# checkpoints written atomically, the outdated one deleted after the new one is whole
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
