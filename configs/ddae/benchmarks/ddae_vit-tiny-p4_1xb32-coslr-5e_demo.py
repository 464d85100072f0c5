# DDAE fine-tuning, shrunk for the CPU: ddae_vit-base-p16_8xb128-coslr-100e_in1k.py (its lr,
# layer decay, mixup/cutmix, PRETRAINED checkpoint) on the tiny ViT of
# configs/ddae/ddae_vit-tiny-p4_1xb32-20e_demo.py and the demo data, for 5 epochs. Tests, demo:
#   python tools/convert_checkpoint.py work_dirs/ddae_vit-tiny-p4_1xb32-20e_demo/epoch_20.pth \
#       work_dirs/ddae_vit-tiny-p4_1xb32-20e_demo/backbone.pth
#   PRETRAINED=work_dirs/ddae_vit-tiny-p4_1xb32-20e_demo/backbone.pth \
#       python tools/train.py configs/ddae/benchmarks/ddae_vit-tiny-p4_1xb32-coslr-5e_demo.py
_base_ = [
    './ddae_vit-base-p16_8xb128-coslr-100e_in1k.py',
    '../../_base_/finetune_vit-tiny-p4_1xb32-coslr-5e_demo.py',
]

model = {{_base_.tiny.model}}
data_preprocessor = {{_base_.tiny.data_preprocessor}}
train_dataloader = {{_base_.tiny.train_dataloader}}
val_dataloader = {{_base_.tiny.val_dataloader}}
test_dataloader = val_dataloader
val_evaluator = {{_base_.tiny.val_evaluator}}
test_evaluator = val_evaluator
param_scheduler = {{_base_.tiny.param_scheduler}}
train_cfg = {{_base_.tiny.train_cfg}}
default_hooks = {{_base_.tiny.default_hooks}}
env_cfg = {{_base_.tiny.env_cfg}}
