# mmseg's MAE UperNet on ADE20K (512 x 512, 160k iterations, 8 GPUs x 2 images), as every
# method's segmentation config starts from it. Changes only:
# - the backbone loads the converted checkpoint strictly (StrictLoadMAE; mmseg's MAE loads
#   with strict=False and says nothing, so a wrong file trains from random weights). Make
#   the file with `python tools/convert_checkpoint.py SRC DST --target mmseg` and pass it as
#   PRETRAINED=DST (or --cfg-options model.pretrained=DST);
# - AMP is really on: mmseg 1.x ignores the inherited `fp16=` key, so the optimizer wrapper
#   becomes AmpOptimWrapper (CUDA; mmengine refuses it without an accelerator);
# - Runner checkpoints stay loadable with torch >= 2.6's weights_only=True (resume), are
#   written atomically, and a non-finite loss stops the run before a save.
_base_ = 'mmseg::mae/mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py'

custom_imports = dict(imports=['mim_deepsup.seg'], allow_failed_imports=False)
custom_hooks = [
    dict(type='mmpretrain.WeightsOnlyCheckpointHook'),
    dict(type='mmpretrain.NonFiniteLossHook'),
]
default_hooks = dict(checkpoint=dict(type='mmpretrain.AtomicCheckpointHook'))

model = dict(
    pretrained='{{$PRETRAINED:work_dirs/pretrained/mae_mmseg.pth}}',  # each method: its own
    backbone=dict(type='StrictLoadMAE'))
optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
fp16 = None  # read by nothing in mmseg 1.x: AMP is the AmpOptimWrapper above
