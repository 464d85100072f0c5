# DeepMIM with HOG targets on the tiny CPU MAE: every decoder predicts the 108 HOG values
# of each 4 px patch (9 orientations x 3 channels x 2 x 2 cells of 2 px, a Gaussian window
# per patch). Tests and the demo.
_base_ = './deepmim_vit-tiny-p4_1xb32-20e_demo.py'

hog_dim = 108
model = dict(
    neck=dict(predict_feature_dim=hog_dim),
    head=dict(_delete_=True, type='MIMHead',
              loss=dict(type='PixelReconstructionLoss', criterion='L2')),
    target_generator=dict(type='PatchHOGTarget', patch_size=4, nbins=9, pool=2,
                          gaussian_window=4),
    supervisions=dict(deepmim=dict(decoder=dict(predict_feature_dim=hog_dim))))
