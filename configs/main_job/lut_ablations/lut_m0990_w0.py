# LUT at this scale: no context loss (weight 0), the same two views and disjoint masks.
_base_ = './lut_m0990.py'

model = dict(supervisions=dict(lut=dict(weight=0.0)))
