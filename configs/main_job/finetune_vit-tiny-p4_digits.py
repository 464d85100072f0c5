# The main job's fine-tuning stage, the same for every method (the papers' headline
# number): the tiny fine-tuning base, i.e. mmpretrain's MAE fine-tuning recipe shrunk
# (layer-wise lr decay 0.65, mixup and cutmix, label smoothing, drop path, AdamW at 2e-3),
# on a labelled tenth of the digits' training set (the job writes the list, the same for
# every run), top-1 on the whole validation set. The ViT starts from the converted
# pretraining checkpoint (PRETRAINED), or from its initialisation for the untrained floor.
_base_ = '../_base_/finetune_vit-tiny-p4_1xb32-coslr-5e_demo.py'

num_classes = 10
model = dict(head=dict(num_classes=num_classes))
data_preprocessor = dict(num_classes=num_classes)
digits = dict(data_root='data/digits/cls',
              metainfo=dict(classes=('0', '1', '2', '3', '4', '5', '6', '7', '8', '9')))
train_dataloader = dict(
    num_workers=0,  # the job runs two trainings side by side on two cores
    persistent_workers=False,
    # the labelled subset: lines '<class>/<image> <label>' under train/
    dataset=dict(**digits, ann_file='{{$LABELLED:labelled.txt}}'))
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(**digits))
test_dataloader = val_dataloader
max_epochs = 30
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=3,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 3, by_epoch=True, begin=3,
         end=max_epochs, eta_min=1e-6, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(checkpoint=dict(interval=max_epochs, max_keep_ckpts=1),
                     logger=dict(interval=20))
