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
import re
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from genbench.api import GenerativeModel
from genbench.errors import UsageError, one_line
from genbench.training import signals

# How long a process waits for the others to join the group before giving up. torchrun
# starts every process of a job together (across nodes too, once its own rendezvous
# is done), so only their start-up (importing torch, reading the registry) is waited
# for here. Collectives keep their own, longer timeout (an evaluation on rank 0 may
# keep the others waiting at the next log interval).
RENDEZVOUS_TIMEOUT_S = 180.0
COLLECTIVE_TIMEOUT = timedelta(minutes=10)


class SingleProcess:
    """The single-process strategy (no torchrun): every collective is the identity."""

    rank, world, local_rank = 0, 1, 0
    parallel = False
    is_main = True
    device: torch.device | None = None  # None: the user's --device decides

    def broadcast_object(self, obj: Any) -> Any:
        return obj

    def mean_(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def min_(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def any(self, flag: bool) -> bool:
        return flag

    def prepare(self, model: GenerativeModel) -> None:
        pass

    def barrier(self) -> None:
        pass

    def close(self, finished: bool = True) -> None:
        pass


class Distributed(SingleProcess):
    """A process group from torchrun's environment (RANK, WORLD_SIZE, MASTER_ADDR...)."""

    parallel = True

    def __init__(
        self,
        rank: int,
        world: int,
        local_rank: int,
        device_type: str,
        where: str = "MASTER_ADDR:MASTER_PORT",
    ):
        self.rank, self.world, self.local_rank = rank, world, local_rank
        self.is_main = rank == 0
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(local_rank)
        if not dist.is_initialized():
            _join(backend, rank, world, where)
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

    def prepare(self, model: GenerativeModel) -> None:
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

    def _average_gradients(
        self, optimizer: torch.optim.Optimizer, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        grads = [
            p.grad
            for group in optimizer.param_groups
            for p in group["params"]
            if p.grad is not None
        ]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])  # one collective per step
        self.mean_(flat)
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
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


@dataclass(frozen=True)
class Launch:
    """The torch.distributed settings of this process, as torchrun gives them."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    addr: str = ""
    port: int = 0


_WHOLE = re.compile(r"[0-9]{1,9}")
_HOST = re.compile(r"[A-Za-z0-9._:\[\]%-]{1,253}")


def _whole(env: Mapping[str, str], name: str, default: int | None = None) -> int:
    text = env.get(name, "").strip()
    if not text and default is not None:
        return default
    if not _WHOLE.fullmatch(text):
        got = f"got {text[:40]!r}" if text else "it is not set"
        raise UsageError(f"{name} must be a whole number (torchrun sets it); {got}")
    return int(text)


def check_environment(env: Mapping[str, str] | None = None) -> Launch:
    """torchrun's variables checked before anything starts: WORLD_SIZE, RANK and
    LOCAL_RANK whole numbers with RANK below WORLD_SIZE, and MASTER_ADDR and
    MASTER_PORT present when there is more than one process. One line (UsageError)
    naming the variable; no WORLD_SIZE at all is a single process."""
    env = os.environ if env is None else env
    if not env.get("WORLD_SIZE", "").strip():
        return Launch()
    world = _whole(env, "WORLD_SIZE")
    if world < 1:
        raise UsageError("WORLD_SIZE must be at least 1 (the number of processes), got 0")
    rank = _whole(env, "RANK", 0 if world == 1 else None)
    if rank >= world:
        raise UsageError(
            f"RANK {rank} is not below WORLD_SIZE {world}: the ranks of "
            f"{world} processes are 0 to {world - 1}"
        )
    local_rank = _whole(env, "LOCAL_RANK", 0)
    local_world = _whole(env, "LOCAL_WORLD_SIZE", world)
    if local_rank >= min(local_world, world):
        raise UsageError(
            f"LOCAL_RANK {local_rank} is not below LOCAL_WORLD_SIZE "
            f"{min(local_world, world)} (the processes on this machine)"
        )
    if world == 1:
        return Launch(rank, world, local_rank)
    addr = env.get("MASTER_ADDR", "").strip()
    if not _HOST.fullmatch(addr):
        got = f"got {addr[:40]!r}" if addr else "it is not set"
        raise UsageError(
            f"MASTER_ADDR must be the host name or address of rank 0 when "
            f"WORLD_SIZE is {world} (torchrun sets it); {got}"
        )
    if not env.get("MASTER_PORT", "").strip():
        raise UsageError(
            f"MASTER_PORT must be rank 0's port when WORLD_SIZE is {world} "
            "(torchrun sets it); it is not set"
        )
    port = _whole(env, "MASTER_PORT")
    if not 1 <= port <= 65535:
        raise UsageError(f"MASTER_PORT must be a port from 1 to 65535, got {port}")
    return Launch(rank, world, local_rank, addr, port)


def _join(backend: str, rank: int, world: int, where: str) -> None:
    """init_process_group, waited for at most RENDEZVOUS_TIMEOUT_S. The wait itself
    runs in a helper thread: blocked in C++ it never returns to Python, where the
    stop handlers run, so SIGTERM and Ctrl+C (which only set a flag) would be
    ignored for as long as it lasts. Here the main thread polls that flag and the
    deadline; the helper is a daemon thread that dies with the process."""
    done = threading.Event()
    failed: list[BaseException] = []

    def rendezvous() -> None:
        try:
            host = where.rpartition(":")[0]
            try:  # once, here: torch would retry a name that does not resolve, and
                socket.getaddrinfo(host, None)  # log a line of C++ on each try, to the end
            except (socket.gaierror, UnicodeError) as exc:
                raise UsageError(f"MASTER_ADDR {host!r} does not resolve ({exc})") from None
            dist.init_process_group(
                backend=backend, rank=rank, world_size=world, timeout=COLLECTIVE_TIMEOUT
            )
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            failed.append(exc)
        finally:
            done.set()

    threading.Thread(target=rendezvous, name="genbench-rendezvous", daemon=True).start()
    deadline = time.monotonic() + RENDEZVOUS_TIMEOUT_S
    others = "the other process" if world == 2 else f"the other {world - 1} processes"
    while not done.wait(0.05):
        stop = signals.stop_requested()
        if stop:
            raise signals.StoppedBeforeStart(
                f"stopped by {stop} while rank {rank} waited "
                f"for {others} at {where}; no run folder "
                "was made"
            )
        if time.monotonic() > deadline:
            raise UsageError(
                f"rank {rank} of {world}: {others} did not join at {where} "
                f"within {RENDEZVOUS_TIMEOUT_S:.0f} s; start all {world} "
                f"(torchrun --nproc-per-node {world} ...) with the same "
                "MASTER_ADDR and MASTER_PORT"
            )
    if failed:
        reason = str(failed[0]) if isinstance(failed[0], UsageError) else one_line(failed[0])
        raise UsageError(
            f"rank {rank} of {world} could not join the others at {where}: {reason[:300]}"
        )


def from_environment(device_name: str | None, launch: Launch | None = None) -> SingleProcess:
    """A Distributed when launched by torchrun with more than one process, else
    SingleProcess. ``launch``: the environment as check_environment read it."""
    launch = launch or check_environment()
    if launch.world <= 1:
        return SingleProcess()
    wants_cuda = device_name in (None, "", "auto", "cuda") and torch.cuda.is_available()
    if device_name and device_name.startswith("cuda:"):
        raise UsageError("under torchrun each rank uses cuda:LOCAL_RANK; give --device cuda")
    if wants_cuda and launch.local_rank >= torch.cuda.device_count():
        raise UsageError(
            f"LOCAL_RANK {launch.local_rank} has no GPU: this machine has "
            f"{torch.cuda.device_count()} (give torchrun --nproc-per-node at "
            "most that, or --device cpu)"
        )
    return Distributed(
        launch.rank,
        launch.world,
        launch.local_rank,
        "cuda" if wants_cuda else "cpu",
        f"{launch.addr}:{launch.port}",
    )
