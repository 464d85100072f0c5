# DeepMIM on MAE, ViT-L/16, 1600 epochs, with DeepSpeed ZeRO stage 2 (optimizer states and
# gradients partitioned, parameters whole on every GPU) through mmengine's
# DeepSpeedStrategy, run by FlexibleRunner. Mixed precision is DeepSpeed's `torch_autocast`
# (DeepSpeed >= 0.17.2): the model stays fp32 and its forward runs under bf16 autocast, as
# with AmpOptimWrapper, so the fp32 places of docs/mixed_precision.md hold. DeepSpeed's own
# `bf16`/`fp16` sections would cast the whole model, targets and any EMA teacher included, to
# 16 bits. Not run here (no GPU, no DeepSpeed): docs/distributed.md.
_base_ = './deepmim_mae_vit-large-p16_8xb512-amp-coslr-1600e_in1k.py'

# DeepSpeed steps the optimizer itself: its wrapper takes the optimizer and nothing else
# (no loss_scale); the optimizer and its parameter-wise settings are the AMP config's
optim_wrapper = dict(
    _delete_=True,
    type='DeepSpeedOptimWrapper',
    optimizer={{_base_.optim_wrapper.optimizer}},
    paramwise_cfg={{_base_.optim_wrapper.paramwise_cfg}},
    constructor={{_base_.optim_wrapper.constructor}})

strategy = dict(
    type='DeepSpeedStrategy',
    zero_optimization=dict(stage=2, overlap_comm=True, contiguous_gradients=True),
    # passed to deepspeed.initialize as it is (DeepSpeedStrategy has no argument for it)
    config=dict(torch_autocast=dict(enabled=True, dtype='bfloat16')))
runner_type = 'FlexibleRunner'  # for mmpretrain's tools/train.py; ours picks it itself
