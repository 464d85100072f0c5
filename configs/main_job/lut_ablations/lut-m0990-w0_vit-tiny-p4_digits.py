# LUT at this scale: no context loss (weight 0), the same two views and disjoint masks.
_base_ = './lut-m0990_vit-tiny-p4_digits.py'

model = dict(supervisions=dict(lut=dict(weight=0.0)))
