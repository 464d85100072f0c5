# DeepMIM with CLIP targets (the released code's variant): every decoder (final and
# auxiliary, depth 4) predicts the 512-d patch tokens of a frozen CLIP ViT-B/16 image tower
# (after ln_post and the projection) on the full unmasked image, with loss 2 - 2 cos over
# masked patches. The CLIP weights, in mmpretrain's format (visual.*, visual_proj.* keys):
# DEEPMIM_CLIP=path/to/clip-vit-base-p16_openai.pth.
_base_ = './deepmim_mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'

clip_dim = 512
model = dict(
    neck=dict(decoder_depth=4, predict_feature_dim=clip_dim),
    # the auxiliary decoders take the same head (2 - 2 cos over masked patches; in fp32
    # under mixed precision, where bf16 would lose 1 - cos near 0)
    head=dict(_delete_=True, type='MIMHead',
              loss=dict(type='FP32CosineSimilarityLoss', shift_factor=2.0, scale_factor=2.0)),
    target_generator=dict(
        type='FrozenFeatureTarget',
        backbone=dict(
            type='VisionTransformer', arch='base', img_size=224, patch_size=16,
            layer_cfgs=dict(act_cfg=dict(type='mmpretrain.QuickGELU')), pre_norm=True, out_type='raw'),
        projection=dict(type='TokenProjection', in_channels=768, out_channels=clip_dim),
        checkpoint='{{$DEEPMIM_CLIP:checkpoints/clip-vit-base-p16_openai.pth}}',
        prefixes=dict(backbone='visual.', projection='visual_proj.'),
        mean=[122.770938, 116.7460125, 104.09373615],
        std=[68.5005327, 66.6321579, 70.32316305]),
    supervisions=dict(
        deepmim=dict(decoder=dict(decoder_depth=4, predict_feature_dim=clip_dim))))
