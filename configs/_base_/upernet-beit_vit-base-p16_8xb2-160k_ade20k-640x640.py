# mmseg's BEiT UperNet on ADE20K (640 x 640, 160k iterations, 8 GPUs x 2 images), for
# encoders pretrained with our BEiT-v2 configs (DeepMIM and DDAE on BEiT-v2). As the MAE
# base does, it changes only: the backbone loads the converted checkpoint strictly
# (StrictLoadBEiT; `python tools/convert_checkpoint.py SRC DST --target mmseg` copies
# BEiT-v2's shared relative position bias table into each layer, as mmseg's BEiT keeps one
# per layer, and mmseg resizes it from the 14 x 14 pretraining grid to 40 x 40), the
# checkpoint comes from PRETRAINED (or --cfg-options model.pretrained=DST), and Runner
# checkpoints stay loadable with weights_only=True. mmseg's BEiT-base recipe is fp32, and
# so is this one; `python tools/train.py ... --amp` switches to AmpOptimWrapper.
_base_ = 'mmseg::beit/beit-base_upernet_8xb2-160k_ade20k-640x640.py'

custom_imports = dict(imports=['mim_deepsup.seg'], allow_failed_imports=False)
custom_hooks = [
    dict(type='mmpretrain.WeightsOnlyCheckpointHook'),
    dict(type='mmpretrain.NonFiniteLossHook'),
]
default_hooks = dict(checkpoint=dict(type='mmpretrain.AtomicCheckpointHook'))

model = dict(
    pretrained='{{$PRETRAINED:work_dirs/pretrained/beitv2_mmseg.pth}}',
    backbone=dict(type='StrictLoadBEiT'))
