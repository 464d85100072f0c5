# DDAE + LUT in the main job: the tiny DDAE + LUT config with the job's data and schedule.
_base_ = ['../ddae/ddae-lut_vit-tiny-p4_1xb32-20e_demo.py', './digits_recipe.py']

train_dataloader = {{_base_.job_train_dataloader}}
param_scheduler = {{_base_.job_param_scheduler}}
train_cfg = {{_base_.job_train_cfg}}
