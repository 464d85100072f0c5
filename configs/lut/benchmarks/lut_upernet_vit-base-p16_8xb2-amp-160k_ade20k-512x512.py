# UperNet on ADE20K from a LUT ViT-B/16. The LUT authors publish no segmentation recipe, so
# this is mmseg's MAE recipe unchanged (AdamW lr 1e-4, layer decay 0.65, 160k iterations).
#   python tools/convert_checkpoint.py work_dirs/<lut run>/epoch_N.pth \
#       work_dirs/pretrained/lut_mmseg.pth --target mmseg
#   PRETRAINED=work_dirs/pretrained/lut_mmseg.pth bash tools/dist_train.sh THIS_CONFIG 8
_base_ = '../../_base_/upernet-mae_vit-base-p16_8xb2-amp-160k_ade20k-512x512.py'

model = dict(pretrained='{{$PRETRAINED:work_dirs/pretrained/lut_mmseg.pth}}')
