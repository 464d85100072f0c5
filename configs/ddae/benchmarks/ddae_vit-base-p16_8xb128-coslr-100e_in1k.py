# ImageNet fine-tuning of a DDAE-pretrained ViT-B/16: mmpretrain's MAE fine-tuning recipe
# unchanged (100 epochs, lr 2e-3 at batch 1024, layer decay 0.65, ...). The DDAE authors
# released no code and no fine-tuning settings (docs/methods.md), so nothing but the checkpoint
# differs; the recipe is mmpretrain's, not the paper's.
#
# The checkpoint is the output of our converter (the student's `backbone.*` keys; add
# --teacher to start from the EMA teacher instead):
#   python tools/convert_checkpoint.py \
#       work_dirs/ddae_vit-base-p16_8xb512-amp-coslr-800e_in1k/epoch_800.pth \
#       work_dirs/ddae_vit-base-p16_8xb512-amp-coslr-800e_in1k/backbone.pth
#   PRETRAINED=work_dirs/.../backbone.pth \
#       bash tools/dist_train.sh configs/ddae/benchmarks/THIS_FILE.py 8
# (or python tools/train.py THIS_FILE.py; PRETRAINED defaults to the path above, and
# `--cfg-options model.backbone.init_cfg.checkpoint=PATH` works as well).
_base_ = [
    'mmpretrain::mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py',
    '../../_base_/mim-deepsup_finetune_runtime.py',
]

# StrictLoadVisionTransformer: mmpretrain's ViT, refusing a checkpoint that does not fit
model = dict(backbone=dict(type='StrictLoadVisionTransformer', init_cfg=dict(
    checkpoint='{{$PRETRAINED:work_dirs/ddae_vit-base-p16_8xb512-amp-coslr-800e_in1k/backbone.pth}}')))
# checkpoints written atomically, the outdated one deleted after the new one is whole
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
