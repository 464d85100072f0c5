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

# see the MAE base: no injected `_scope_` for `default_collate`
train_dataloader = dict(collate_fn=dict(_delete_=True, type='default_collate'))
# frozen parts (EMA teacher, frozen target networks) left out of the optimizer with one log
# line each, not one warning per parameter
optim_wrapper = dict(constructor='SkipFrozenOptimWrapperConstructor')
# mmpretrain sets True because the VQ-KD tokenizer's parameters require grad but get none;
# ComposableBEiT freezes them, so DDP need not search the graph for unused ones every step
find_unused_parameters = False
# checkpoints written atomically, the outdated one deleted after the new one is whole
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
