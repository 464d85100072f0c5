# DDAE with DINO targets for the final decoder: the 768-d patch tokens of a frozen DINO
# ViT-B/16 on the unmasked image, layer-normalised, L2 weighted by distance; the
# intermediate decoders keep regressing the EMA teacher's features. Weights from a local
# file in timm's or mmpretrain's names: DEEPMIM_DINO=path/to/dino_vitbase16_pretrain.pth.
_base_ = './ddae_mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'

model = dict(
    neck=dict(predict_feature_dim=768),
    head=dict(_delete_=True, type='MIMHead',
              loss=dict(type='DDAEFeatureLoss', criterion='L2')),
    target_generator=dict(
        type='FrozenFeatureTarget',
        backbone=dict(type='VisionTransformer', arch='base', img_size=224, patch_size=16,
                      out_type='raw'),
        checkpoint='{{$DEEPMIM_DINO:checkpoints/dino_vitbase16_pretrain.pth}}'))
