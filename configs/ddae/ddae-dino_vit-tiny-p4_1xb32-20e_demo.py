# DDAE with a frozen ViT's features on the tiny CPU MAE, as the DINO config wires them:
# the final decoder predicts the layer-normalised 48-d patch tokens of a 2-block ViT,
# L2 weighted by distance. Random weights (the wiring only): tests and the demo.
_base_ = './ddae_vit-tiny-p4_1xb32-20e_demo.py'

feature_dim = 48
model = dict(
    neck=dict(predict_feature_dim=feature_dim),
    head=dict(_delete_=True, type='MIMHead', loss=dict(type='DDAEFeatureLoss', criterion='L2')),
    target_generator=dict(
        type='FrozenFeatureTarget',
        backbone=dict(type='VisionTransformer',
                      arch=dict(embed_dims=feature_dim, num_layers=2, num_heads=4,
                                feedforward_channels=96),
                      img_size=32, patch_size=4, out_type='raw'),
        random_weights=True))
