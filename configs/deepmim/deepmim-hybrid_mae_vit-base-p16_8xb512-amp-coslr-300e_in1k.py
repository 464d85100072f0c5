# DeepMIM with the hybrid target: auxiliary decoder l regresses
#   a_l * raw patches + (1 - a_l) * the reconstruction of a frozen, pretrained MAE
# fed the same visible patches (computed once per step); the final decoder regresses raw
# patches. a_l = block / 12 by default (0.5, 0.67, 0.83: ours, the paper gives no values).
# The frozen MAE's weights: DEEPMIM_FROZEN_MAE=path/to/mae_checkpoint.pth (backbone.* and
# neck.* keys, e.g. mmpretrain's released MAE ViT-B 1600e checkpoint's state dict).
_base_ = './deepmim_mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'

model = dict(
    supervisions=dict(
        deepmim=dict(
            hybrid=dict(
                type='DeepMIMHybridTarget',
                model='mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-1600e_in1k.py',
                checkpoint='{{$DEEPMIM_FROZEN_MAE:checkpoints/mae_vit-base-p16_1600e.pth}}'),
        )))
