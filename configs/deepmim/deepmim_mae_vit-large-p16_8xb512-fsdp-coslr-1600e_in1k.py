# DeepMIM on MAE, ViT-L/16, 1600 epochs, sharded with FSDP through mmengine's FSDPStrategy
# (run by FlexibleRunner; tools/train.py picks it for a config with `strategy`). Everything
# but the strategy is the AMP config's: fp16 autocast, which FSDPStrategy gives a sharded
# gradient scaler. How to run it, the EMA-teacher caveat and checkpoints: docs/distributed.md.
_base_ = './deepmim_mae_vit-large-p16_8xb512-amp-coslr-1600e_in1k.py'

strategy = dict(
    # mmengine's FSDPStrategy, but able to resume on torch >= 2.1 (its optimizer-state
    # loading uses torch 2.0's argument order)
    type='Torch2FSDPStrategy',
    model_wrapper=dict(
        # an FSDP unit for every module holding >= 10M parameters not already in a unit:
        # each ViT-L encoder block (12.6M) and each 512-d x 8 MAE decoder (26M), not the
        # backbone itself, which is entered through forward_taps, not forward
        auto_wrap_policy=dict(
            type='torch.distributed.fsdp.wrap.size_based_auto_wrap_policy',
            min_num_params=int(1e7)),
        # mmengine's default, stated because it is required: units mix frozen (pos_embed)
        # and trained parameters, and paramwise_cfg matches parameters by their names
        use_orig_params=True),
    # rank 0 saves one consolidated Runner checkpoint ('state_dict' with the unsharded
    # model's keys), which tools/convert_checkpoint.py reads and --resume continues
    state_dict_cfg='full')
runner_type = 'FlexibleRunner'  # for mmpretrain's tools/train.py; ours picks it itself
# torch's default AdamW, not the base's fused one: with FSDP's fp16 loss scaler a fused
# optimizer checks for inf gradients per process, so processes could disagree on skipping
# a step (Torch2FSDPStrategy refuses the combination)
optim_wrapper = dict(optimizer=dict(fused=False))
