# ImageNet fine-tuning of a LUT-pretrained ViT-B/16: mmpretrain's MAE fine-tuning recipe with
# the two values in which the authors' recipe (naver-ai/lut, docs/FINETUNE.md) differs:
# --layer_decay 0.75, and --blr 1e-3, which their main_finetune.py turns into
# lr = blr * sqrt(effective batch) / 8 = 4e-3 at their effective batch 1024 (8 GPUs x 32
# x 4 accumulation; ours: 8 x 128). Their other flags are mmpretrain's values already:
# 100 epochs, weight decay 0.05, drop path 0.1, mixup 0.8, cutmix 1.0, random erasing 0.25.
#
# The checkpoint is the output of our converter (the student's `backbone.*` keys, as the
# authors fine-tune the student, not the EMA copy):
#   python tools/convert_checkpoint.py \
#       work_dirs/lut_vit-base-p16_8xb512-amp-coslr-1600e_in1k/epoch_1600.pth \
#       work_dirs/lut_vit-base-p16_8xb512-amp-coslr-1600e_in1k/backbone.pth
#   PRETRAINED=work_dirs/.../backbone.pth \
#       bash tools/dist_train.sh configs/lut/benchmarks/THIS_FILE.py 8
# (or python tools/train.py THIS_FILE.py; PRETRAINED defaults to the path above, and
# `--cfg-options model.backbone.init_cfg.checkpoint=PATH` works as well).
_base_ = [
    'mmpretrain::mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py',
    '../../_base_/mim-deepsup_finetune_runtime.py',
]

# StrictLoadVisionTransformer: mmpretrain's ViT, refusing a checkpoint that does not fit
model = dict(backbone=dict(type='StrictLoadVisionTransformer', init_cfg=dict(
    checkpoint='{{$PRETRAINED:work_dirs/lut_vit-base-p16_8xb512-amp-coslr-1600e_in1k/backbone.pth}}')))
optim_wrapper = dict(optimizer=dict(lr=4e-3), paramwise_cfg=dict(layer_decay_rate=0.75))
# checkpoints written atomically, the outdated one deleted after the new one is whole
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
