# PixMIM on mmpretrain's MAE ViT-B/16 recipe (300 epochs), through our core: what PixMIM's
# released config changes in MAE's. The decoder regresses the norm-pix patches of the
# low-frequency image (an ideal low-pass of radius 40 in the Fourier domain), and the crop
# keeps most of the image: a resize of the short side to 224 and a 224 crop of it (4 px
# reflected padding) instead of RandomResizedCrop's 0.2-1 of the area.
_base_ = '../_base_/composable-mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'

model = dict(target_generator=dict(type='LowFreqPixelTarget', radius=40, img_size=224))

train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='RobustLoadImageFromFile'),
    dict(type='ResizeEdge', scale=224, edge='short', backend='pillow',
         interpolation='bilinear'),
    dict(type='RandomCrop', crop_size=224, padding=4, padding_mode='reflect'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]))
