# DDAE with HOG targets on the tiny CPU MAE: the final decoder predicts the 108 HOG values
# of each 4 px patch, L2 weighted by distance. Tests and the demo.
_base_ = './ddae_vit-tiny-p4_1xb32-20e_demo.py'

model = dict(
    neck=dict(predict_feature_dim=108),
    head=dict(_delete_=True, type='MIMHead', loss=dict(type='DDAEPixelLoss', criterion='L2')),
    target_generator=dict(type='PatchHOGTarget', patch_size=4, nbins=9, pool=2,
                          gaussian_window=4))
