"""Data-parallel training under ``torchrun``: which process this is, and the few collective steps.

Every process holds the whole model and trains on its share of each step's batch; after the
step's micro-batches the gradients of the trainable parameters are summed over processes in one
all-reduce (NCCL on GPUs, gloo on CPUs), so every process takes the same optimiser step and the
weights never drift apart. This is the reduction DistributedDataParallel performs; the wrapper
itself is not used because it would first broadcast the 1.3 B frozen backbone weights and wants
to see every forward, for 447 K trainable values that one flat all-reduce handles.

Started as one plain process (no ``WORLD_SIZE`` in the environment) everything here is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


def world_size() -> int:
    """Processes in this run, from torchrun's environment (1 when not under torchrun)."""
    text = os.environ.get("WORLD_SIZE", "1")
    try:
        return max(1, int(text))
    except ValueError:
        raise ValueError(f"WORLD_SIZE={text!r} in the environment is not a number; start training with torchrun "
                         "or without WORLD_SIZE set.") from None


@dataclass(frozen=True)
class Processes:
    """This process's place in the run. ``rank`` 0 writes checkpoints, logs and plots."""

    rank: int
    world: int
    device: torch.device
    owns_group: bool = False
    """Whether :func:`start` created the process group (and :func:`stop` should end it)."""

    @property
    def main(self) -> bool:
        return self.rank == 0

    def sum_gradients(self, params: list[torch.nn.Parameter]) -> None:
        """Replace every ``param.grad`` by its sum over processes (one flat all-reduce)."""
        if self.world == 1:
            return
        import torch.distributed as dist

        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        offset = 0
        for param, grad in zip(params, grads):
            n = grad.numel()
            param.grad = flat[offset:offset + n].view_as(grad).clone()
            offset += n

    def broadcast(self, params: list[torch.nn.Parameter]) -> None:
        """Give every process rank 0's values (they start equal anyway: the same seed)."""
        if self.world == 1:
            return
        import torch.distributed as dist

        with torch.no_grad():
            for param in params:
                dist.broadcast(param.data, src=0)

    def differing(self, value: str) -> list[str]:
        """Every process's ``value`` (a fingerprint) when they are not all equal, else ``[]``."""
        if self.world == 1:
            return []
        import torch.distributed as dist

        values: list = [None] * self.world
        dist.all_gather_object(values, value)
        return values if len(set(values)) > 1 else []

    def gather(self, local: torch.Tensor, total: int) -> torch.Tensor:
        """Scores of items ``rank, rank + world, ...`` from every process -> all ``total`` in order."""
        if self.world == 1:
            return local
        import torch.distributed as dist

        width = -(-total // self.world)  # ceil
        padded = torch.zeros(width, dtype=local.dtype, device=local.device)
        padded[: local.numel()] = local
        parts = [torch.empty_like(padded) for _ in range(self.world)]
        dist.all_gather(parts, padded)
        out = torch.empty(total, dtype=local.dtype, device=local.device)
        for rank, part in enumerate(parts):
            count = len(range(rank, total, self.world))
            out[rank::self.world] = part[:count]
        return out

    def total(self, value: float) -> float:
        """The sum of ``value`` over processes."""
        if self.world == 1:
            return value
        import torch.distributed as dist

        t = torch.tensor([float(value)], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return float(t)

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()


def start(device: torch.device) -> Processes:
    """Join the torchrun process group when there is one; each GPU process takes ``cuda:LOCAL_RANK``."""
    world = world_size()
    if world == 1:
        return Processes(rank=0, world=1, device=device)
    import torch.distributed as dist

    rank = int(os.environ.get("RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Processes(rank=rank, world=world, device=device, owns_group=owns)


def stop(processes: Processes) -> None:
    """End the process group if :func:`start` created it."""
    if processes.owns_group:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


__all__ = ["Processes", "start", "stop", "world_size"]
