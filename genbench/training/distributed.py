"""Training on several processes with torch.distributed, as launched by torchrun.

    torchrun --nproc-per-node N -m genbench run --headless ...

Each rank builds the same model, takes rank 0's parameters, and draws its own
share of every batch (batch_size / world_size examples from its own random
stream). After every backward pass, right before each optimiser step, the
gradients of that optimiser's parameters are averaged over all ranks, so every
rank applies the same update and the parameters stay identical.

Why optimiser pre-step hooks rather than wrapping the networks in
DistributedDataParallel: a GAN step runs the discriminator several times before
one backward, back-propagates the generator's loss through the discriminator,
and WGAN-GP takes gradients of gradients with torch.autograd.grad, which DDP does
not support. Averaging at the optimiser works for every update rule without
the model knowing about it: the model only lists its networks and optimisers
(``GenerativeModel.modules``), which it already does for checkpoints.

Rank 0 alone writes the run folder, previews and checkpoints. Decisions that end
the loop (a stop signal, a non-finite loss) are agreed at log intervals, so all
ranks leave the loop at the same step and no collective is left waiting.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from genbench.errors import UsageError


class SingleProcess:
    """The single-process strategy (no torchrun): every collective is the identity."""

    rank, world, local_rank = 0, 1, 0
    parallel = False
    is_main = True
    device: torch.device | None = None      # None: the user's --device decides

    def broadcast_object(self, obj: Any) -> Any:
        return obj

    def mean_(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def min_(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def any(self, flag: bool) -> bool:
        return flag

    def prepare(self, model) -> None:
        pass

    def barrier(self) -> None:
        pass

    def close(self, finished: bool = True) -> None:
        pass


class Distributed(SingleProcess):
    """A process group from torchrun's environment (RANK, WORLD_SIZE, MASTER_ADDR...)."""

    parallel = True

    def __init__(self, rank: int, world: int, local_rank: int, device_type: str):
        self.rank, self.world, self.local_rank = rank, world, local_rank
        self.is_main = rank == 0
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(local_rank)
        if not dist.is_initialized():
            dist.init_process_group(backend=backend, timeout=timedelta(minutes=10))
        self.device = torch.device("cuda", local_rank) if device_type == "cuda" else None

    def broadcast_object(self, obj: Any) -> Any:
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def mean_(self, tensor: torch.Tensor) -> torch.Tensor:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor.div_(self.world)

    def min_(self, tensor: torch.Tensor) -> torch.Tensor:
        dist.all_reduce(tensor, op=dist.ReduceOp.MIN)
        return tensor

    def any(self, flag: bool) -> bool:
        t = torch.tensor([1.0 if flag else 0.0], device=self.device or "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def prepare(self, model) -> None:
        """Same starting parameters everywhere, synchronised batch norm where the
        model asks for it, and gradients averaged before every optimiser step."""
        nets = {k: v for k, v in model.checkpointed().items() if isinstance(v, torch.nn.Module)}
        if model.sync_batchnorm and self.device is not None:
            for name, net in nets.items():
                # Keeps the same Parameter objects, so the optimisers stay valid.
                setattr(model, name, torch.nn.SyncBatchNorm.convert_sync_batchnorm(net))
        with torch.no_grad():
            for net in nets.values():
                for t in list(net.parameters()) + list(net.buffers()):
                    dist.broadcast(t, src=0)
        for opt in model.checkpointed().values():
            if isinstance(opt, torch.optim.Optimizer):
                opt.register_step_pre_hook(self._average_gradients)

    def _average_gradients(self, optimizer, args, kwargs) -> None:
        grads = [p.grad for group in optimizer.param_groups for p in group["params"]
                 if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])   # one collective per step
        self.mean_(flat)
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def barrier(self) -> None:
        dist.barrier()

    def close(self, finished: bool = True) -> None:
        if dist.is_initialized():
            if finished:
                # Every rank done first: rank 0 hosts the rendezvous store, and a rank
                # still using it when rank 0 tears the group down aborts (SIGABRT).
                # Not after an error: the other ranks may never arrive.
                dist.barrier()
            dist.destroy_process_group()


def from_environment(device_name: str | None) -> SingleProcess:
    """A Distributed when launched by torchrun with more than one process, else SingleProcess."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SingleProcess()
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    wants_cuda = device_name in (None, "", "auto", "cuda") and torch.cuda.is_available()
    if device_name and device_name.startswith("cuda:"):
        raise UsageError("under torchrun each rank uses cuda:LOCAL_RANK; give --device cuda")
    return Distributed(rank, world, local_rank, "cuda" if wants_cuda else "cpu")
