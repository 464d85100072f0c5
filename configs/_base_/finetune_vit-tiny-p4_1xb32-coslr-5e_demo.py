# The tiny CPU shrink of mmpretrain's MAE fine-tuning recipe, for the demo data
# (tools/make_demo_data.py: data/demo/imagenet, 4 classes, 64 px images): the tiny ViT of
# our tiny pretraining configs (32 px, patch 4, 6 blocks, 64-d), 5 epochs, fp32.
#
# Not a config by itself: a method's tiny config inherits its ViT-B fine-tuning config (for
# the method's checkpoint, lr and layer decay) and this file, and takes each key from
# `tiny` (`model = {{_base_.tiny.model}}`, ...). mmengine refuses a key defined in two
# bases of one config, so everything here sits under the one key `tiny`.
tiny = dict(
    model=dict(
        backbone=dict(
            arch=dict(
                _delete_=True, embed_dims=64, num_layers=6, num_heads=4,
                feedforward_channels=256),
            img_size=32,
            patch_size=4),
        head=dict(num_classes=4, in_channels=64)),
    data_preprocessor=dict(num_classes=4),  # mixup/cutmix one-hot labels
    train_dataloader=dict(
        batch_size=32,
        num_workers=2,
        dataset=dict(
            data_root='data/demo/imagenet',
            # the demo data's classes (mim_deepsup.datasets.demo_data.SHAPES)
            metainfo=dict(classes=('disc', 'ring', 'square', 'triangle')),
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='RandomResizedCrop', scale=32, backend='pillow',
                     interpolation='bicubic'),
                dict(type='RandomFlip', prob=0.5, direction='horizontal'),
                dict(type='PackInputs'),
            ])),
    val_dataloader=dict(
        batch_size=32,
        num_workers=2,
        dataset=dict(
            data_root='data/demo/imagenet',
            metainfo=dict(classes=('disc', 'ring', 'square', 'triangle')),
            pipeline=[
                dict(type='LoadImageFromFile'),
                # short side to 32 / 0.875, as the recipe resizes to 256 for its 224 crop
                dict(type='ResizeEdge', scale=37, edge='short', backend='pillow',
                     interpolation='bicubic'),
                dict(type='CenterCrop', crop_size=32),
                dict(type='PackInputs'),
            ])),
    val_evaluator=dict(topk=(1, )),  # no top-5 of 4 classes
    param_scheduler=[
        dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=1,
             convert_to_iter_based=True),
        dict(type='CosineAnnealingLR', T_max=4, by_epoch=True, begin=1, end=5, eta_min=1e-6,
             convert_to_iter_based=True),
    ],
    train_cfg=dict(max_epochs=5),
    default_hooks=dict(logger=dict(interval=4)),
    env_cfg=dict(dist_cfg=dict(backend='gloo')),  # NCCL needs CUDA
)
