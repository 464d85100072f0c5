# ImageNet fine-tuning of a DeepMIM-pretrained ViT-B/16: mmpretrain's MAE fine-tuning recipe
# (100 epochs, AdamW, layer-wise lr decay, RandAugment, mixup/cutmix, drop path 0.1), with
# DeepMIM's layer decay 0.6 (read in the authors' released fine-tuning code, docs/methods.md);
# every other value is mmpretrain's (lr 2e-3 at batch 1024 among them).
#
# The checkpoint is the output of our converter (the student's `backbone.*` keys):
#   python tools/convert_checkpoint.py \
#       work_dirs/deepmim_mae_vit-base-p16_8xb512-amp-coslr-1600e_in1k/epoch_1600.pth \
#       work_dirs/deepmim_mae_vit-base-p16_8xb512-amp-coslr-1600e_in1k/backbone.pth
#   PRETRAINED=work_dirs/.../backbone.pth \
#       bash tools/dist_train.sh configs/deepmim/benchmarks/THIS_FILE.py 8
# (or python tools/train.py THIS_FILE.py; PRETRAINED defaults to the path above, and
# `--cfg-options model.backbone.init_cfg.checkpoint=PATH` works as well).
_base_ = [
    'mmpretrain::mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py',
    '../../_base_/mim-deepsup_finetune_runtime.py',
]

# StrictLoadVisionTransformer: mmpretrain's ViT, refusing a checkpoint that does not fit
model = dict(backbone=dict(type='StrictLoadVisionTransformer', init_cfg=dict(
    checkpoint='{{$PRETRAINED:work_dirs/deepmim_mae_vit-base-p16_8xb512-amp-coslr-1600e_in1k/backbone.pth}}')))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.6))
# checkpoints written atomically, the outdated one deleted after the new one is whole
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
