# DeepMIM on MAE, ViT-L/16, 1600 epochs. The auxiliary decoders take the encoder's width and
# depth from the backbone: blocks 12, 16 and 20 (the fractions 1/2, 2/3, 5/6 of ViT-B's).
_base_ = './deepmim_mae_vit-base-p16_8xb512-amp-coslr-1600e_in1k.py'

model = dict(
    backbone=dict(arch='l'),
    neck=dict(embed_dim=1024))
