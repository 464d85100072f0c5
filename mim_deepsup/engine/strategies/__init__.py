from .torch2_fsdp_strategy import Torch2FSDPStrategy

__all__ = ['Torch2FSDPStrategy']
