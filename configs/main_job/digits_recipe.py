# The main job's recipe, one for every method (tools/main_job.py; configs/main_job/README.md
# gives the rules behind each number). Each job config inherits a method's tiny config and
# this file, and takes from here only data and schedule.
# (Names start with job_: a key may not be in two bases.)
job_data_root = 'data/digits/cls/'  # tools/main_job.py writes it (the 5,000 MNIST digits)
job_batch_size = 32  # 4,000 training digits: 125 iterations an epoch
job_epochs = 12
job_warmup_epochs = 1  # (the tiny configs: 2 of 20 epochs)
# EMA teachers (LUT, DDAE) keep their recipes' momentum (0.996 to 1): the learning rate
# per step is the recipes' too, so a teacher averaging over the same number of steps lags
# the student by as much as it does on ImageNet (configs/main_job/README.md)

job_train_dataloader = dict(
    batch_size=job_batch_size,
    num_workers=0,  # the job runs two trainings side by side on two cores
    persistent_workers=False,
    # mmpretrain's ImageNet dataset reads the class folders of train/ (whatever list a
    # method's recipe reads, e.g. MaskFeat's meta/train.txt); it checks their count
    dataset=dict(data_root=job_data_root, split='train', ann_file='', data_prefix='',
                 metainfo=dict(classes=('0', '1', '2', '3', '4', '5', '6', '7', '8', '9'))))
job_param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=job_warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=job_epochs - job_warmup_epochs, by_epoch=True,
         begin=job_warmup_epochs, end=job_epochs, convert_to_iter_based=True),
]
job_train_cfg = dict(max_epochs=job_epochs)
