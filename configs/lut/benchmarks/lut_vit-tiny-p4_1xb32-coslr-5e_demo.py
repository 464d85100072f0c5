# LUT fine-tuning on the CPU-sized model and demo data: the tiny base plus the values in
# which lut_vit-base-p16_8xb128-coslr-100e_in1k.py differs from mmpretrain's recipe
# (LUT's lr and layer decay; a test keeps them equal). Tests, demo:
#   python tools/convert_checkpoint.py work_dirs/lut_vit-tiny-p4_1xb32-20e_demo/epoch_20.pth \
#       work_dirs/lut_vit-tiny-p4_1xb32-20e_demo/backbone.pth
#   PRETRAINED=work_dirs/lut_vit-tiny-p4_1xb32-20e_demo/backbone.pth \
#       python tools/train.py configs/lut/benchmarks/lut_vit-tiny-p4_1xb32-coslr-5e_demo.py
_base_ = '../../_base_/finetune_vit-tiny-p4_1xb32-coslr-5e_demo.py'

model = dict(backbone=dict(init_cfg=dict(
    checkpoint='{{$PRETRAINED:work_dirs/lut_vit-tiny-p4_1xb32-20e_demo/backbone.pth}}')))
optim_wrapper = dict(optimizer=dict(lr=4e-3), paramwise_cfg=dict(layer_decay_rate=0.75))
