"""Layers the techniques share: BatchNorm with statistics over every process's batch."""
import torch
import torch.distributed as dist
from mmpretrain.registry import MODELS
from torch import nn


class _AllReduceSum(torch.autograd.Function):
    """The sum over processes, differentiable: each process's loss reads the sum, so the
    gradient of each process's input is the sum of every process's output gradient."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


@MODELS.register_module('AllReduceBN')
class AllReduceBatchNorm(nn.BatchNorm1d):
    """:class:`torch.nn.BatchNorm1d` whose training statistics are those of the batch of
    every process, as LUT's released heads get from ``nn.SyncBatchNorm``.

    torch's ``SyncBatchNorm`` refuses CPU tensors, so a CPU (gloo) run could only use
    per-process statistics, which differ from a 1-process run of the same global batch.
    Here the processes all-reduce the sums of x and the sample count, then the sums of
    (x - mean)^2: two collectives of C + 1 and C numbers, through autograd, so gradients
    flow across processes as in SyncBatchNorm. Without a process group, or in eval mode,
    it is BatchNorm1d.
    Use it as ``norm_cfg=dict(type='AllReduceBN')``.

    Shapes: input (B, C) or (B, C, L); output the same.

    Its arguments are :class:`torch.nn.BatchNorm1d`'s (``num_features``, ``eps``,
    ``momentum``, ...), with the same defaults.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized()
                and dist.get_world_size() > 1):
            return super().forward(x)
        self._check_input_dim(x)
        channels = x.shape[1]
        flat = x.transpose(0, 1).reshape(channels, -1).float()  # (C, B * L), fp32 sums
        count = flat.new_full((1, ), flat.shape[1])  # (1,)
        # two passes, as BatchNorm: the mean first, then the squares about it (E[x^2] -
        # E[x]^2 in one pass loses the variance when |mean| >> std)
        sums = _AllReduceSum.apply(torch.cat([flat.sum(1), count]))  # (C + 1,)
        total = sums[-1]  # samples over all processes
        mean = sums[:channels] / total  # (C,)
        centred = flat - mean[:, None]  # (C, B * L)
        var = _AllReduceSum.apply((centred * centred).sum(1)) / total  # (C,) biased
        if self.track_running_stats:
            self._update_running_stats(mean.detach(), var.detach() * total / (total - 1))
        shape = (1, channels) + (1, ) * (x.dim() - 2)
        y = (x.float() - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, unbiased_var: torch.Tensor) -> None:
        """As BatchNorm's training step: an exponential (or, with ``momentum=None``,
        cumulative) average of the batch mean and unbiased variance."""
        self.num_batches_tracked += 1
        momentum = (self.momentum if self.momentum is not None else
                    (1 / self.num_batches_tracked).to(self.running_mean))  # no host sync
        self.running_mean.lerp_(mean.to(self.running_mean), momentum)
        self.running_var.lerp_(unbiased_var.to(self.running_var), momentum)
