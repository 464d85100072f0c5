# UperNet on ADE20K from a DDAE BEiT-v2 ViT-B/16, pretrained with
# configs/ddae/ddae_beitv2_beit-base-p16_8xb256-amp-coslr-300e_in1k.py.
# No DDAE segmentation recipe for BEiT-v2 is published, so this is mmseg's BEiT recipe
# unchanged (AdamW lr 3e-5, layer decay 0.9, 640 crop, 160k iterations).
#   python tools/convert_checkpoint.py work_dirs/<run>/epoch_N.pth \
#       work_dirs/pretrained/ddae_beitv2_mmseg.pth --target mmseg
#   PRETRAINED=work_dirs/pretrained/ddae_beitv2_mmseg.pth bash tools/dist_train.sh THIS_CONFIG 8
_base_ = '../../_base_/upernet-beit_vit-base-p16_8xb2-160k_ade20k-640x640.py'
