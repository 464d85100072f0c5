# UperNet on ADE20K from a DeepMIM ViT-B/16, with DeepMIM's own fine-tuning recipe (its
# released segmentation code: AdamW lr 5e-5, layer decay 0.9; the rest, 160k iterations,
# 512 crop, out_indices [3, 5, 7, 11] and slide test 512 / stride 341, is mmseg's MAE
# config already).
#   python tools/convert_checkpoint.py work_dirs/<deepmim run>/epoch_N.pth \
#       work_dirs/pretrained/deepmim_mmseg.pth --target mmseg
#   PRETRAINED=work_dirs/pretrained/deepmim_mmseg.pth bash tools/dist_train.sh THIS_CONFIG 8
_base_ = '../../_base_/upernet-mae_vit-base-p16_8xb2-amp-160k_ade20k-512x512.py'

optim_wrapper = dict(optimizer=dict(lr=5e-5), paramwise_cfg=dict(layer_decay_rate=0.9))

model = dict(pretrained='{{$PRETRAINED:work_dirs/pretrained/deepmim_mmseg.pth}}')
