# UperNet on ADE20K from a DDAE ViT-B/16 (the paper reports 49.3 mIoU; no code or recipe is
# released), so this is mmseg's MAE recipe unchanged (AdamW lr 1e-4, layer decay 0.65).
#   python tools/convert_checkpoint.py work_dirs/<ddae run>/epoch_N.pth \
#       work_dirs/pretrained/ddae_mmseg.pth --target mmseg
#   PRETRAINED=work_dirs/pretrained/ddae_mmseg.pth bash tools/dist_train.sh THIS_CONFIG 8
_base_ = '../../_base_/upernet-mae_vit-base-p16_8xb2-amp-160k_ade20k-512x512.py'

model = dict(pretrained='{{$PRETRAINED:work_dirs/pretrained/ddae_mmseg.pth}}')
