# DeepMIM with a frozen ViT's features on the tiny CPU MAE, as the DINO config wires them:
# every decoder predicts the 48-d patch tokens of a 2-block ViT at the student's grid,
# 2 - 2 cos. Its weights are random (no DINO at 4 px patches exists): the config checks
# the wiring, tests and the demo; point checkpoint at a file to use real ones.
_base_ = './deepmim_vit-tiny-p4_1xb32-20e_demo.py'

feature_dim = 48
model = dict(
    neck=dict(predict_feature_dim=feature_dim),
    head=dict(_delete_=True, type='MIMHead',
              loss=dict(type='FP32CosineSimilarityLoss', shift_factor=2.0, scale_factor=2.0)),
    target_generator=dict(
        type='FrozenFeatureTarget',
        backbone=dict(type='VisionTransformer',
                      arch=dict(embed_dims=feature_dim, num_layers=2, num_heads=4,
                                feedforward_channels=96),
                      img_size=32, patch_size=4, out_type='raw'),
        random_weights=True),
    supervisions=dict(deepmim=dict(decoder=dict(predict_feature_dim=feature_dim))))
