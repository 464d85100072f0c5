# DDAE fine-tuning on the CPU-sized model and demo data: the tiny base plus the values in
# which ddae_vit-base-p16_8xb128-coslr-100e_in1k.py differs from mmpretrain's recipe
# (nothing: DDAE's ViT-B config is mmpretrain's recipe; a test keeps them equal). Tests, demo:
#   python tools/convert_checkpoint.py work_dirs/ddae_vit-tiny-p4_1xb32-20e_demo/epoch_20.pth \
#       work_dirs/ddae_vit-tiny-p4_1xb32-20e_demo/backbone.pth
#   PRETRAINED=work_dirs/ddae_vit-tiny-p4_1xb32-20e_demo/backbone.pth \
#       python tools/train.py configs/ddae/benchmarks/ddae_vit-tiny-p4_1xb32-coslr-5e_demo.py
_base_ = '../../_base_/finetune_vit-tiny-p4_1xb32-coslr-5e_demo.py'

model = dict(backbone=dict(init_cfg=dict(
    checkpoint='{{$PRETRAINED:work_dirs/ddae_vit-tiny-p4_1xb32-20e_demo/backbone.pth}}')))
