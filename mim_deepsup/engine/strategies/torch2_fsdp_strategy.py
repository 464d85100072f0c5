"""mmengine's FSDP strategy with resuming fixed for torch >= 2.1."""
from mmengine._strategy import FSDPStrategy
from mmengine.registry import STRATEGIES
from torch.distributed.fsdp import FullyShardedDataParallel as FSDP


@STRATEGIES.register_module()
class Torch2FSDPStrategy(FSDPStrategy):
    """:class:`FSDPStrategy` whose optimizer state loads on torch >= 2.1 (docs/distributed.md).

    mmengine 0.10.7 calls ``FSDP.optim_state_dict_to_load(state_dict, model, optimizer)``,
    torch 2.0's argument order; torch >= 2.1 takes ``(model, optimizer, state_dict)`` and
    the old order fails with ``TypeError: unhashable type: 'dict'``, so no FSDP run could
    resume. Everything else is FSDPStrategy's.
    """

    def load_optim_state_dict(self, state_dict: dict) -> None:
        optim_state_dict = FSDP.optim_state_dict_to_load(
            self.model, self.optim_wrapper.optimizer, state_dict)
        self.optim_wrapper.load_state_dict(optim_state_dict)
