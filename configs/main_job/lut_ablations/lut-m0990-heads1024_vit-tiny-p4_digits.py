# LUT at this scale: projector and predictor 1024 wide (the tiny config: 256).
_base_ = './lut-m0990_vit-tiny-p4_digits.py'

head = dict(hid_channels=1024, norm_cfg=dict(type='AllReduceBN'))
model = dict(supervisions=dict(lut=dict(projector=head, predictor=head)))
