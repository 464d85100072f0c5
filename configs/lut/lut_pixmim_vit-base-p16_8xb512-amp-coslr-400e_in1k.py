# LUT on PixMIM, ViT-B/16, 400 epochs: LUT's recipe with PixMIM's target, the final decoder
# regressing the norm-pix patches of the low-frequency image (radius 40) of the MIM view.
# LUT's views keep their own crop (SimpleResizedCrop: a short-side resize and a crop, the
# kind of crop PixMIM chose over RandomResizedCrop).
_base_ = './lut_vit-base-p16_8xb512-amp-coslr-400e_in1k.py'

model = dict(target_generator=dict(type='LowFreqPixelTarget', radius=40, img_size=224))
