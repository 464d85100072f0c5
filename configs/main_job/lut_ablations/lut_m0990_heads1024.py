# LUT at this scale: projector and predictor 1024 wide (the tiny config: 256).
_base_ = './lut_m0990.py'

head = dict(hid_channels=1024, norm_cfg=dict(type='AllReduceBN'))
model = dict(supervisions=dict(lut=dict(projector=head, predictor=head)))
