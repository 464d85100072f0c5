# LUT on the tiny CPU PixMIM: the tiny LUT config with PixMIM's low-frequency target, its
# radius scaled from 224 px (40 -> 6). Tests.
_base_ = './lut_vit-tiny-p4_1xb32-20e_demo.py'

model = dict(target_generator=dict(type='LowFreqPixelTarget', radius=6, img_size=32))
