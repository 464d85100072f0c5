# LUT at this scale (docs/main_job.md): the job's LUT with the EMA momentum the job once
# used, 1 - m scaled by ImageNet's iterations per epoch over ours (0.990); the other
# ablations' base. Each runs with --epochs 6 --seeds 1 and
# --config NAME=configs/main_job/lut_ablations/<file>.
_base_ = '../lut_vit-tiny-p4_digits.py'

model = dict(teacher=dict(base_momentum=1 - (1 - 0.996) * (1281167 / 4096) / (4000 / 32)))
