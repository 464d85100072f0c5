# DeepMIM with HOG targets (MaskFeat's): every decoder, final and auxiliary, predicts the
# 108 HOG values of each patch (9 orientations x 3 channels x 2 x 2 cells of 8 px, from
# mmpretrain's HOGGenerator), L2 over masked patches as MaskFeat.
_base_ = './deepmim_mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'

hog_dim = 108
model = dict(
    neck=dict(predict_feature_dim=hog_dim),
    head=dict(_delete_=True, type='MIMHead',
              loss=dict(type='PixelReconstructionLoss', criterion='L2')),
    target_generator=dict(type='PatchHOGTarget', patch_size=16, nbins=9, pool=8,
                          gaussian_window=16),
    supervisions=dict(deepmim=dict(decoder=dict(predict_feature_dim=hog_dim))))
