# mmpretrain's MAE fine-tuning recipe shrunk for the CPU and the demo data
# (tools/make_demo_data.py: data/demo/imagenet, 4 classes, 64 px images): the tiny ViT of
# our tiny pretraining configs (32 px, patch 4, 6 blocks, 64-d), 5 epochs, fp32. The base of
# each method's tiny fine-tuning config, which restates the method's values (a test keeps
# them equal to its ViT-B config's); everything not restated here is mmpretrain's recipe.
_base_ = [
    'mmpretrain::mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py',
    './mim-deepsup_finetune_runtime.py',
]

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True, embed_dims=64, num_layers=6, num_heads=4,
            feedforward_channels=256),
        img_size=32,
        patch_size=4,
        type='StrictLoadVisionTransformer',
        init_cfg=dict(checkpoint='{{$PRETRAINED:work_dirs/pretrained/tiny_backbone.pth}}')),
    head=dict(num_classes=4, in_channels=64))
data_preprocessor = dict(num_classes=4)  # mixup/cutmix one-hot labels
# the demo data, with its classes (mim_deepsup.datasets.demo_data.SHAPES)
demo = dict(data_root='data/demo/imagenet',
            metainfo=dict(classes=('disc', 'ring', 'square', 'triangle')))
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    dataset=dict(
        **demo,
        pipeline=[
            dict(type='RobustLoadImageFromFile'),
            dict(type='RandomResizedCrop', scale=32, backend='pillow',
                 interpolation='bicubic'),
            dict(type='RandomFlip', prob=0.5, direction='horizontal'),
            dict(type='PackInputs'),
        ]))
val_dataloader = dict(
    batch_size=32,
    num_workers=2,
    dataset=dict(
        **demo,
        pipeline=[
            dict(type='RobustLoadImageFromFile'),
            # short side to 32 / 0.875, as the recipe resizes to 256 for its 224 crop
            dict(type='ResizeEdge', scale=37, edge='short', backend='pillow',
                 interpolation='bicubic'),
            dict(type='CenterCrop', crop_size=32),
            dict(type='PackInputs'),
        ]))
test_dataloader = val_dataloader
val_evaluator = dict(topk=(1, ))  # no top-5 of 4 classes
test_evaluator = val_evaluator
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=4, by_epoch=True, begin=1, end=5, eta_min=1e-6,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=5)
default_hooks = dict(logger=dict(interval=4), checkpoint=dict(type='AtomicCheckpointHook'))
env_cfg = dict(dist_cfg=dict(backend='gloo'))  # NCCL needs CUDA
