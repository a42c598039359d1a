"""Data-parallel training: the same trainer in N processes, each taking a share of every batch.

Start it with ``wavescope train ... --nproc N`` (or :func:`launch`), which spawns the N
processes on this machine, or with ``torchrun`` for several machines::

    torchrun --nproc-per-node 4 -m wavescope train --config run.json
    torchrun --nnodes 2 --node-rank 0 --master-addr HOST --nproc-per-node 8 \\
        -m wavescope train --config run.json

Every process runs :func:`wavescope.training.train` on the same config; ``train`` finds the
``torchrun`` variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``) and joins the process group: gloo on ``device="cpu"``, NCCL on
``device="cuda"`` (process ``LOCAL_RANK`` uses GPU ``LOCAL_RANK``; give ``"cuda"`` without an
index). On several machines, ``out_dir`` and ``data_root`` must be on a file system they all
see: the other ranks read the data and the resume checkpoint that rank 0 prepared.

How the result stays that of one process:

- **The same batches.** Every rank draws the same batch order (it depends on the seed and
  epoch only); of each global batch ``b`` of ``batch_size`` items, rank ``r`` takes
  ``b[r::N]``. ``batch_size`` stays the global batch.
- **The global gradient.** After its backward pass each rank weights its gradient by its
  share of the batch (``n_r / len(b)``) and one ``all_reduce`` sums them: the gradient of the
  mean loss over the whole batch, also when the last batch does not split evenly (a rank
  with no item of it computes a stand-in item with weight 0). Every rank then takes the
  same optimiser step, so the weights stay identical. This is exact for losses that are
  means over the batch's items (every loss of the built-in tasks); N processes then give
  the weights of one process within float rounding (``tests/training/test_distributed.py``).
- **Random draws per rank.** Model initialisation uses the config's seed on every rank
  (and rank 0's weights are broadcast to the others); afterwards rank 0 continues the
  single-process random stream and rank ``r > 0`` is reseeded from ``(seed, r)``, so
  dropout and augmentation masks differ between ranks. With such draws an N-process run is
  reproducible, but not equal to a one-process run.
- **Rank 0 writes.** Only rank 0 holds the run-folder lock, evaluates, writes
  ``metrics.csv``, checkpoints and ``test_metrics.json`` and calls the callback; the
  training metrics of each row are computed by rank 0 from the outputs of the whole
  batch (gathered from all ranks). ``checkpoint_last.pt`` keeps every rank's random state:
  resuming with the same N is exact; with another N the batches and weights continue
  exactly, only the per-rank random draws of ranks > 0 are new.

While rank 0 evaluates, the other ranks wait in the next collective; :data:`TIMEOUT_S`
bounds that wait (and any other).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

__all__ = ["launch", "Ranks", "process_group", "rank", "free_port", "TIMEOUT_S"]

#: Seconds a rank waits in a collective (e.g. while rank 0 evaluates) before giving up.
TIMEOUT_S = 2 * 3600


def rank() -> int:
    """This process's rank: ``$RANK`` under ``torchrun``/:func:`launch`, else 0."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0"))


@dataclass(frozen=True)
class Ranks:
    """This process's place in a data-parallel run (``world == 1``: a plain run).

    The methods are collectives: every rank calls them in the same order.
    """

    rank: int = 0
    world: int = 1
    device: str = "cpu"  #: where the collectives' tensors live (the GPU for NCCL)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, batch: list[int]) -> tuple[list[int], float]:
        """This rank's items of a global batch and their share of it (0 for a stand-in)."""
        if self.world == 1:
            return batch, 1.0
        mine = batch[self.rank::self.world]
        if not mine:  # fewer items than ranks: compute one, count none
            return batch[:1], 0.0
        return mine, len(mine) / len(batch)

    def reduce(self, model: torch.nn.Module, loss: torch.Tensor, weight: float) -> float:
        """Replace each rank's gradients by those of the global batch; return its loss.

        The sum over ranks of ``weight`` times each rank's gradient (and loss), in one
        ``all_reduce`` (a parameter without a gradient on every rank keeps none).
        """
        if self.world == 1:
            return float(loss.detach())
        params = [p for p in model.parameters() if p.requires_grad]
        has = torch.tensor([float(p.grad is not None) for p in params], device=self.device)
        dist.all_reduce(has, op=dist.ReduceOp.MAX)
        grads = []
        for p, flag in zip(params, has.tolist(), strict=True):
            if flag and p.grad is None:
                p.grad = torch.zeros_like(p)
            if flag:
                grads.append(p.grad)
        flat = torch.cat([g.reshape(-1) for g in grads]
                         + [loss.detach().reshape(1).to(grads[0].dtype if grads else
                                                        loss.dtype)]).to(self.device)
        flat.mul_(weight)
        dist.all_reduce(flat)
        start = 0
        for g in grads:
            g.copy_(flat[start:start + g.numel()].view_as(g))
            start += g.numel()
        return float(flat[-1])

    def gather_batch(self, output, target, weight: float, device):
        """The whole batch's ``(output, target)`` on rank 0 (items in the batch's order);
        None on the other ranks."""
        if self.world == 1:
            return output, target
        part = _move((output, target), "cpu") if weight > 0 else None
        parts = [None] * self.world if self.is_main else None
        dist.gather_object(part, parts, dst=0)
        if not self.is_main:
            return None
        shards = [p for p in parts if p is not None]
        return _move(_interleave(shards, self.world), device)

    def gather(self, obj) -> list | None:
        """Every rank's ``obj`` as a list on rank 0 (None elsewhere)."""
        if self.world == 1:
            return [obj]
        out = [None] * self.world if self.is_main else None
        dist.gather_object(obj, out, dst=0)
        return out

    def broadcast_model(self, model: torch.nn.Module) -> None:
        """Give every rank rank 0's parameters and buffers."""
        if self.world == 1:
            return
        for tensor in model.state_dict().values():
            dist.broadcast(tensor, src=0)

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


def _move(obj, device):
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_move(o, device) for o in obj)
    return obj


def _interleave(shards: list, world: int):
    """Undo ``b[r::world]``: shards of the ranks that had items back into one batch."""
    first = shards[0]
    if isinstance(first, torch.Tensor):
        total = sum(len(s) for s in shards)
        out = first.new_empty((total, *first.shape[1:]))
        for r, s in enumerate(shards):
            out[r::world] = s
        return out
    if isinstance(first, (list, tuple)):
        return type(first)(_interleave([s[i] for s in shards], world)
                           for i in range(len(first)))
    raise TypeError(f"cannot gather a batch of {type(first).__name__} across ranks; outputs "
                    "and targets must be tensors or tuples of tensors")


@contextlib.contextmanager
def process_group(device: str) -> Iterator[Ranks]:
    """Join the ``torchrun`` process group named by the environment (if any) for one run.

    A group already initialised by the caller is used (and left open); without
    ``WORLD_SIZE`` > 1 this yields a one-process :class:`Ranks`.
    """
    if dist.is_available() and dist.is_initialized():
        comm = "cuda" if dist.get_backend() == "nccl" else "cpu"
        yield Ranks(dist.get_rank(), dist.get_world_size(), comm)
        return
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        yield Ranks()
        return
    dev = torch.device(device)
    if dev.type == "cuda":
        if dev.index is not None:
            raise ValueError(f"device {device!r}: with several processes give 'cuda' without "
                             "an index (process LOCAL_RANK uses GPU LOCAL_RANK)")
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if local >= torch.cuda.device_count():
            raise ValueError(f"process LOCAL_RANK={local} has no GPU: this machine has "
                             f"{torch.cuda.device_count()}; start at most that many per node")
        torch.cuda.set_device(local)
        backend = "nccl"
    elif dev.type == "cpu":
        backend = "gloo"
    else:
        raise ValueError(f"device {device!r}: data-parallel training runs on 'cpu' (gloo) or "
                         "'cuda' (NCCL)")
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=TIMEOUT_S))
    yield Ranks(dist.get_rank(), dist.get_world_size(), str(dev))
    # Closed on success only: after an error the process exits and its launcher stops the
    # others, which reports this rank's error rather than a peer's "connection closed".
    dist.destroy_process_group()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for a local process group)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(config, nproc: int, task_cls=None, start_method: str = "spawn") -> Path:
    """Train ``config`` data-parallel in ``nproc`` processes on this machine.

    Parameters
    ----------
    config : TrainConfig, dict or path
        The run (as for :func:`wavescope.training.train`); ``batch_size`` is the global
        batch, split across the processes.
    nproc : int
        Processes (ranks); 1 trains in this process. With ``device="cuda"`` at most the
        number of GPUs (one each).
    task_cls : type, optional
        The task class, when it is registered only in the caller (default: looked up by
        ``config.task``, and its module imported by every process).
    start_method : {"spawn", "forkserver"}
        How the processes start (see :mod:`multiprocessing`). "forkserver" with
        ``torch.multiprocessing.set_forkserver_preload(["wavescope.training.trainer"])``
        imports torch once for many launches (the tests do this).

    Returns
    -------
    pathlib.Path
        The run folder.

    Notes
    -----
    As with any spawned process, a script that calls ``launch`` needs the
    ``if __name__ == "__main__":`` guard (the processes import the script).

    Raises
    ------
    Exception
        The first error of any process, re-raised here (its type kept where it can be).
    """
    from .config import TrainConfig
    from .tasks import get_task
    from .trainer import train

    config = TrainConfig.coerce(config)
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"nproc must be a positive integer, got {nproc!r}")
    if nproc == 1:
        return train(config)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ValueError(f"nproc={nproc} inside a torchrun process group: let torchrun start "
                         "the processes (--nproc-per-node) and leave nproc at 1")
    if torch.device(config.device).type == "cuda" and nproc > torch.cuda.device_count():
        raise ValueError(f"nproc={nproc} processes need {nproc} GPUs with device="
                         f"{config.device!r}; this machine has {torch.cuda.device_count()}")
    task_cls = task_cls or get_task(config.task)
    ctx = torch.multiprocessing.get_context("spawn")
    errors = ctx.SimpleQueue()
    try:
        torch.multiprocessing.start_processes(
            _worker, nprocs=nproc, join=True, start_method=start_method,
            args=(nproc, free_port(), config.to_dict(), task_cls, errors))
    except (torch.multiprocessing.ProcessRaisedException,
            torch.multiprocessing.ProcessExitedException) as err:
        first = None
        with contextlib.suppress(Exception):
            first = None if errors.empty() else errors.get()
        if isinstance(first, BaseException):
            raise first from err
        raise RuntimeError(f"a training process failed ({' '.join(str(err).split())[:500]})"
                           ) from err
    return config.run_dir()


def _worker(index: int, world: int, port: int, config_dict: dict, task_cls, errors) -> None:
    from . import tasks
    from .config import TrainConfig
    from .trainer import train

    os.environ.update(RANK=str(index), LOCAL_RANK=str(index), WORLD_SIZE=str(world),
                      LOCAL_WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    if task_cls is not None:  # a task registered in the caller, unknown to a fresh process
        tasks.TASKS.setdefault(task_cls.name, task_cls)
    try:
        train(TrainConfig.from_dict(config_dict))
    except BaseException as err:
        try:
            errors.put(err)
        except Exception:  # noqa: BLE001 - an error that does not pickle: its text
            errors.put(RuntimeError(f"rank {index}: {type(err).__name__}: {err}"))
        raise
