# LUT at this scale: the context loss at weight 1.0 (the paper's ViT-S value).
_base_ = './lut-m0990_vit-tiny-p4_digits.py'

model = dict(supervisions=dict(lut=dict(weight=1.0)))
