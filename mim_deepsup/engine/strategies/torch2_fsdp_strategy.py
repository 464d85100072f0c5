"""mmengine's FSDP strategy with resuming fixed for torch >= 2.1."""
from mmengine._strategy import FSDPStrategy
from mmengine.registry import STRATEGIES
from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
from torch.distributed.fsdp.sharded_grad_scaler import ShardedGradScaler

# the keys of torch's Optimizer.state_dict(), the only ones FSDP.optim_state_dict keeps
_OPTIMIZER_KEYS = ('state', 'param_groups')


@STRATEGIES.register_module()
class Torch2FSDPStrategy(FSDPStrategy):
    """:class:`FSDPStrategy` that resumes on torch >= 2.1 with the optimizer wrapper's own
    state (docs/distributed.md).

    mmengine 0.10.7 calls ``FSDP.optim_state_dict_to_load(state_dict, model, optimizer)``,
    torch 2.0's argument order; torch >= 2.1 takes ``(model, optimizer, state_dict)`` and
    the old order fails with ``TypeError: unhashable type: 'dict'``, so no FSDP run could
    resume.

    mmengine saves ``FSDP.optim_state_dict(model, optim_wrapper)``, which keeps only the
    ``state`` and ``param_groups`` of ``optim_wrapper.state_dict()``: the entries the
    wrapper adds were lost, ``AmpOptimWrapper``'s ``loss_scaler`` (the fp16 configs'
    ``ShardedGradScaler``: scale, growth tracker and factors) and, with more than one
    parameter group, ``base_param_settings``. A resumed fp16 run restarted from the
    initial loss scale. They are saved next to FSDP's entries and handed back to the
    wrapper's ``load_state_dict`` on resume.

    A fused optimizer (``optim_wrapper.optimizer.fused=True``) with fp16 loss scaling is
    refused: torch's ``GradScaler.step`` then looks for inf gradients on each process alone
    (``ShardedGradScaler`` agrees across processes only in ``unscale_``, which
    ``AmpOptimWrapper`` calls only with ``clip_grad``, and with it a fused AdamW fails), so
    one process could skip a step that another takes. Everything else is FSDPStrategy's.
    """

    def build_optim_wrapper(self, optim_wrapper, model=None):
        built = super().build_optim_wrapper(optim_wrapper, model)
        wrappers = built.values() if hasattr(built, 'optim_wrappers') else [built]
        for wrapper in wrappers:
            fused = any(group.get('fused') for group in wrapper.optimizer.param_groups)
            if fused and isinstance(getattr(wrapper, 'loss_scaler', None), ShardedGradScaler):
                raise ValueError(
                    'optim_wrapper.optimizer.fused=True with FSDP\'s fp16 loss scaling '
                    '(ShardedGradScaler): processes would decide alone whether to skip a '
                    'step with inf gradients; set optim_wrapper.optimizer.fused=False')
        return built

    def optim_state_dict(self) -> dict:
        state_dict = super().optim_state_dict()
        state_dict.update((key, value) for key, value in self.optim_wrapper.state_dict().items()
                          if key not in _OPTIMIZER_KEYS)
        return state_dict

    def load_optim_state_dict(self, state_dict: dict) -> None:
        optimizer_state = {k: v for k, v in state_dict.items() if k in _OPTIMIZER_KEYS}
        wrapper_state = {k: v for k, v in state_dict.items() if k not in _OPTIMIZER_KEYS}
        optimizer_state = FSDP.optim_state_dict_to_load(
            self.model, self.optim_wrapper.optimizer, optimizer_state)
        self.optim_wrapper.load_state_dict({**optimizer_state, **wrapper_state})
