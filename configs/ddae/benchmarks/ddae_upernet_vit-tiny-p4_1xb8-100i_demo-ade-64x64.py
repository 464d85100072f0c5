# DDAE's segmentation config (mmseg's MAE recipe) on the CPU-sized model and demo data.
_base_ = '../../_base_/upernet-mae_vit-tiny-p4_1xb8-100i_demo-ade-64x64.py'
