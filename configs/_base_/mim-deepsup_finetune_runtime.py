# What every downstream mmpretrain config of ours adds to mmpretrain's own: our components
# (the hook below lives in mim_deepsup), and checkpoints that torch >= 2.6 loads with
# weights_only=True. Without WeightsOnlyCheckpointHook the message hub in a Runner
# checkpoint is not weights-only loadable, so `--resume` of a fine-tuning run fails.
# A non-finite loss stops the run before a save. (Atomic checkpoint saves,
# AtomicCheckpointHook, replace mmengine's `default_hooks` checkpoint entry in the files
# inheriting this one: bases may not share a key.)
# (No pretraining hooks here: fine-tuning has no EMA teacher and no progress-scheduled
# component.)
custom_imports = dict(imports=['mim_deepsup'], allow_failed_imports=False)

custom_hooks = [dict(type='WeightsOnlyCheckpointHook'), dict(type='NonFiniteLossHook')]
