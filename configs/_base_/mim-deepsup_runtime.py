# What every mim-deepsup config adds to mmpretrain's runtime: our components, and hooks for
# progress t of scheduled components, the EMA teacher's update after each optimizer step,
# the random-generator state in checkpoints (resuming continues the same draws), and
# checkpoints that torch >= 2.6 loads with weights_only=True, and a stop at the first
# non-finite loss (naming the term and the iteration) before anything is saved.
# (Atomic checkpoint saves, AtomicCheckpointHook, replace mmengine's `default_hooks`
# checkpoint entry in the files inheriting this one: bases may not share a key.)
custom_imports = dict(imports=['mim_deepsup'], allow_failed_imports=False)

custom_hooks = [
    dict(type='TrainingProgressHook'),
    dict(type='EMATeacherHook'),
    dict(type='RandomStateHook'),
    dict(type='WeightsOnlyCheckpointHook'),
    dict(type='NonFiniteLossHook'),
]
