# DeepMIM with DINO targets: every decoder, final and auxiliary, predicts the 768-d patch
# tokens of a frozen DINO ViT-B/16 (after its final norm) on the full unmasked image, with
# loss 2 - 2 cos over masked patches, as the CLIP variant. The weights from a local file,
# in timm's names (the DINO release, dino_vitbase16_pretrain.pth) or mmpretrain's
# (backbone.*): DEEPMIM_DINO=path/to/dino_vitbase16_pretrain.pth.
_base_ = './deepmim_mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'

dino_dim = 768
model = dict(
    neck=dict(predict_feature_dim=dino_dim),
    head=dict(_delete_=True, type='MIMHead',
              loss=dict(type='FP32CosineSimilarityLoss', shift_factor=2.0, scale_factor=2.0)),
    target_generator=dict(
        type='FrozenFeatureTarget',
        backbone=dict(type='VisionTransformer', arch='base', img_size=224, patch_size=16,
                      out_type='raw'),
        checkpoint='{{$DEEPMIM_DINO:checkpoints/dino_vitbase16_pretrain.pth}}'),
    supervisions=dict(deepmim=dict(decoder=dict(predict_feature_dim=dino_dim))))
