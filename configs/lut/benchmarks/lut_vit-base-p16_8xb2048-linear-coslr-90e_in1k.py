# Linear probing of a LUT-pretrained ViT-B/16 on ImageNet: mmpretrain's MAE recipe
# unchanged (frozen backbone with its final norm, cls token, BatchNorm neck, LARS lr 6.4 at
# batch 16384, 90 epochs); only the checkpoint is ours. No linear-probing settings of
# LUT's own are known (docs/methods.md).
#
# The checkpoint is the output of our converter (`backbone.*` keys). It holds the
# pretraining final norm `ln1`, which this frozen ViT (final_norm=True) loads, so
# every backbone key is used:
#   python tools/convert_checkpoint.py \
#       work_dirs/lut_vit-base-p16_8xb512-amp-coslr-1600e_in1k/epoch_1600.pth \
#       work_dirs/lut_vit-base-p16_8xb512-amp-coslr-1600e_in1k/backbone.pth
#   PRETRAINED=work_dirs/.../backbone.pth \
#       bash tools/dist_train.sh configs/lut/benchmarks/THIS_FILE.py 8
# (or python tools/train.py THIS_FILE.py; PRETRAINED defaults to the path above, and
# `--cfg-options model.backbone.init_cfg.checkpoint=PATH` works as well).
_base_ = [
    'mmpretrain::mae/benchmarks/vit-base-p16_8xb2048-linear-coslr-90e_in1k.py',
    '../../_base_/mim-deepsup_finetune_runtime.py',
]

# StrictLoadVisionTransformer: mmpretrain's ViT, refusing a checkpoint that does not fit
model = dict(backbone=dict(type='StrictLoadVisionTransformer', init_cfg=dict(
    checkpoint='{{$PRETRAINED:work_dirs/lut_vit-base-p16_8xb512-amp-coslr-1600e_in1k/backbone.pth}}')))
# checkpoints written atomically, the outdated one deleted after the new one is whole
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
