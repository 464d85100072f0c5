# DDAE with HOG targets (MaskFeat's) for the final decoder: its 108 HOG values per patch
# (mmpretrain's HOGGenerator), L2 weighted by distance; the intermediate decoders keep
# regressing the EMA teacher's features.
_base_ = './ddae_mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'

model = dict(
    neck=dict(predict_feature_dim=108),
    head=dict(_delete_=True, type='MIMHead', loss=dict(type='DDAEPixelLoss', criterion='L2')),
    target_generator=dict(type='PatchHOGTarget', patch_size=16, nbins=9, pool=8,
                          gaussian_window=16))
