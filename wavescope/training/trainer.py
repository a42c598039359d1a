"""The one trainer: ``train(config) -> run folder``, for every registered task.

A run folder holds

``config.json``
    the :class:`~wavescope.training.config.TrainConfig` (the whole recipe);
``metrics.csv``
    one row per evaluation (per epoch, or every ``eval_every_steps`` steps): epoch, step,
    learning rate, wall time, and every metric of the task's meter for ``train_`` (the
    batches since the previous row, in training mode) and ``val_``;
``checkpoint_best.pt``
    the model at the best validation ``monitor`` value;
``checkpoint_last.pt``
    everything needed to resume: model, optimiser, position in the batch order, random
    states, metric rows;
``test_metrics.json``
    the best checkpoint scored on the test split, written when training ends.

The trainer knows nothing about images or sequences: it only calls a
:class:`~wavescope.training.tasks.Task` (``datasets``, ``build_model``, ``loss``, ``meter``).
Batch order is a permutation drawn from ``(seed, epoch)``, so a run interrupted anywhere
resumes from its last checkpoint and ends with the same numbers as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import pickle
import random
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from .._safeio import run_lock, safe_write, write_json, write_text
from .config import TrainConfig
from .distributed import Ranks, process_group
from .tasks import Task, get_task

__all__ = ["train", "evaluate", "load_run", "read_metrics", "batch_order", "CheckpointError",
           "CHECKPOINT_FORMAT", "check_device"]

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
LAST = "checkpoint_last.pt"
BEST = "checkpoint_best.pt"
TEST_FILE = "test_metrics.json"


# --------------------------------------------------------------------------- helpers
#: Marks checkpoints made of plain tensors, numbers, strings, lists and dicts only, so that
#: ``torch.load(..., weights_only=True)`` reads them without running any pickled code.
CHECKPOINT_FORMAT = "wavescope-checkpoint-2"


class CheckpointError(ValueError):
    """A checkpoint cannot be used: damaged, from another model, or not safe to load."""


def _save_torch(obj, path: Path) -> None:
    """``torch.save`` through :func:`~wavescope._safeio.safe_write`: never half a file."""
    with safe_write(path, "wb") as fh:
        torch.save(obj, fh)


def _load_checkpoint(path: Path, trust: bool = False) -> dict:
    """Read a checkpoint with ``weights_only=True`` (no pickled code runs), or refuse it."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"{path} holds Python objects that loading would run as code (it was written by "
            "an older wavescope, or not by wavescope), so it was not loaded; retrain the run, "
            "or, only if you trust where the file came from, pass trust=True"
        ) from err
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as err:
        raise CheckpointError(
            f"cannot read {path}: the file is damaged or truncated ({type(err).__name__}: "
            f"{err}); use the other checkpoint or retrain the run"
        ) from err
    if not isinstance(saved, dict) or "model" not in saved:
        raise CheckpointError(f"{path} is not a wavescope checkpoint (no model weights)")
    return saved


def _load_weights(model, saved: dict, path: Path) -> None:
    try:
        model.load_state_dict(saved["model"])
    except (RuntimeError, KeyError, TypeError) as err:
        raise CheckpointError(
            f"the weights in {path} do not fit the model its config builds ({err}); was "
            "the file copied from another run?"
        ) from err


def _plain(value, where: str):
    """``value`` with NumPy arrays and scalars as tensors and Python numbers (for
    ``weights_only`` loading); anything else that is not plain data is refused by name."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v, where) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v, where) for k, v in value.items()}
    raise TypeError(f"{where} holds a {type(value).__name__}, which a safe checkpoint cannot "
                    "store; keep meters' state in numbers, strings, arrays and tensors")


def _meter_state(meter) -> dict:
    values = vars(meter)
    return {"values": _plain(values, f"meter {type(meter).__name__}"),
            "numpy": [k for k, v in values.items() if isinstance(v, np.ndarray)]}


def _restore_meter(meter, state: dict):
    for key, value in state["values"].items():
        setattr(meter, key, value.numpy() if key in state["numpy"] else value)
    return meter


def _write_csv(rows: list[dict], path: Path) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, text.getvalue())


def read_metrics(run) -> list[dict]:
    """The rows of a run's ``metrics.csv`` as dicts of floats.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from wavescope.training import TrainConfig, read_metrics, train
    >>> tmp = tempfile.TemporaryDirectory()
    >>> config = TrainConfig(task="tetrominoes", model="nwm", model_kwargs={"steps": 2},
    ...                      task_kwargs={"height": 16, "width": 16, "max_pieces": 1},
    ...                      epochs=1, batch_size=2, n_train=2, n_val=2, n_test=2,
    ...                      data_root=f"{tmp.name}/data", out_dir=f"{tmp.name}/runs",
    ...                      progress=False)
    >>> rows = read_metrics(train(config))
    >>> print(len(rows), rows[0]["epoch"], "val_loss" in rows[0])
    1 1.0 True
    >>> tmp.cleanup()
    """
    path = Path(run) / METRICS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; is {run} a training run folder?")
    with open(path, newline="") as fh:
        return [{k: float(v) if v not in ("", None) else math.nan for k, v in row.items()}
                for row in csv.DictReader(fh)]


def batch_order(n_items: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The training batches of one epoch: a permutation drawn from ``(seed, epoch)`` alone.

    The last, smaller batch is kept. Depending only on the seed and the epoch is what makes
    resuming mid-epoch exact.
    """
    gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
    order = torch.randperm(n_items, generator=gen).tolist()
    return [order[i:i + batch_size] for i in range(0, n_items, batch_size)]


def _limit(dataset: Dataset, n: int | None) -> Dataset:
    if n is None or n >= len(dataset):
        return dataset
    return Subset(dataset, range(n))


def _loader_generator(config: TrainConfig, epoch: int) -> torch.Generator:
    """A private generator for a DataLoader: creating a loader's iterator draws a worker seed,
    and drawing it from the global RNG would make the model's random draws depend on when
    loaders were created (and so differ after a resume)."""
    return torch.Generator().manual_seed(int(config.seed) * 7_919 + 17 * (epoch + 1))


def _rng_state() -> dict:
    # NumPy's legacy global state too: user tasks may draw from it. Plain data only (the
    # key array as a tensor), so the checkpoint loads with weights_only=True.
    kind, keys, pos, has_gauss, gauss = np.random.get_state()  # noqa: NPY002
    state = {"torch": torch.get_rng_state(),
             "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss),
                       float(gauss)],
             "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if torch.backends.mps.is_available():  # dropout on an Apple GPU draws from its own
        state["mps"] = torch.mps.get_rng_state()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss,  # noqa: NPY002
                         gauss))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "mps" in state and torch.backends.mps.is_available():
        torch.mps.set_rng_state(state["mps"])


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002
    random.seed(seed)


def _to_device(batch, device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(b, device) for b in batch)
    return batch


def _autocast(config: TrainConfig):
    """``torch.autocast`` to bfloat16 with ``precision="bf16"``, else nothing."""
    return torch.autocast(torch.device(config.device).type, dtype=torch.bfloat16,
                          enabled=config.precision == "bf16")


def _float32(out):
    """A bf16 model output in float32: losses and meters are computed in full precision."""
    return out.float() if isinstance(out, torch.Tensor) and out.dtype == torch.bfloat16 else out


def _rank_random_state(state: dict, config: TrainConfig, ranks: Ranks) -> None:
    """Set this rank's random state: a resumed one, or (rank > 0) a stream of its own.

    Rank 0 continues the one-process stream, so dropout and augmentation differ between
    ranks; a checkpoint of a run with as many ranks restores each rank's state exactly.
    """
    saved = state.get("rng_ranks") or ([state["rng"]] if "rng" in state else None)
    if saved is not None and len(saved) == ranks.world:
        _set_rng_state(saved[ranks.rank])
    elif saved is not None and ranks.is_main:
        _set_rng_state(saved[0])
    elif not ranks.is_main:  # fresh, or resumed with another number of ranks
        _seed_everything(int(config.seed) * 1_000_003 + 7_919 * ranks.rank + state["step"])


def _lr_at(config: TrainConfig, epoch: int) -> float:
    if config.lr_decay_epoch is None:
        return config.lr
    return config.lr * config.lr_decay_factor ** (epoch // config.lr_decay_epoch)


def _progress(iterable, config: TrainConfig, **kwargs):
    if not config.progress:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, leave=False, dynamic_ncols=True, **kwargs)


def _improved(value: float, best: float | None, mode: str) -> bool:
    if best is None or math.isnan(best):
        return not math.isnan(value)
    return value < best if mode == "min" else value > best


# --------------------------------------------------------------------------- evaluation
@torch.no_grad()
def _run_eval(task: Task, model, dataset: Dataset, config: TrainConfig, desc: str) -> dict:
    model.eval()
    meter = task.meter()
    loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=False,
                        num_workers=config.num_workers, generator=_loader_generator(config, -1))
    for x, y in _progress(loader, config, desc=desc):
        x, y = _to_device(x, config.device), _to_device(y, config.device)
        with _autocast(config):
            out = _float32(model(x))
        loss = task.loss(out, y)
        meter.update(out, y, float(loss))
    return meter.compute()


def _splits(task: Task, config: TrainConfig) -> dict[str, Dataset]:
    data = task.datasets(Path(config.data_root).expanduser())
    missing = {"train", "val", "test"} - set(data)
    if missing:
        raise ValueError(f"task {config.task!r} gave no {sorted(missing)} split(s)")
    return {"train": _limit(data["train"], config.n_train),
            "val": _limit(data["val"], config.n_val),
            "test": _limit(data["test"], config.n_test)}


# --------------------------------------------------------------------------- training
def train(config: TrainConfig | dict | str | os.PathLike,
          callback: Callable[[dict], None] | None = None) -> Path:
    """Train a model as ``config`` says and return its run folder.

    Parameters
    ----------
    config : TrainConfig, dict or path
        The run's recipe (a path may be a JSON file or an existing run folder).
    callback : callable, optional
        Called with each new metrics row after its checkpoint is written (for logging, or for
        stopping early by raising).

    Returns
    -------
    pathlib.Path
        The run folder (``config.out_dir / config.run_name()``).

    Notes
    -----
    If the run folder already holds a checkpoint of the same config, training resumes from
    it; a finished run returns at once, unless ``epochs`` or ``max_steps`` now ask for more,
    in which case it is extended (with the numbers a longer run from scratch would give).
    A different config in the same folder is an error.

    Everything that can be checked before training is checked before the run folder is
    made: the task, model and device exist, ``monitor`` is one of the task's metrics, and
    the model builds from ``model_kwargs`` (a ``ValueError`` names the field and the valid
    choices). While training, the folder is locked: a second process training into it gets
    a :class:`~wavescope._safeio.RunLockedError`.

    Started by ``torchrun`` (or :func:`wavescope.training.distributed.launch`, ``wavescope
    train --nproc N``), every process calls ``train`` and they train data-parallel: each
    takes its share of every global batch of ``batch_size`` items, and rank 0 writes the
    run folder (see :mod:`wavescope.training.distributed`).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from wavescope.training import TrainConfig, train
    >>> tmp = tempfile.TemporaryDirectory()
    >>> config = TrainConfig(task="tetrominoes", model="nwm", model_kwargs={"steps": 2},
    ...                      task_kwargs={"height": 16, "width": 16, "max_pieces": 1},
    ...                      epochs=1, batch_size=2, n_train=2, n_val=2, n_test=2,
    ...                      data_root=f"{tmp.name}/data", out_dir=f"{tmp.name}/runs",
    ...                      progress=False)
    >>> run = train(config)  # a tiny run: one epoch on two images
    >>> print(run.name.rsplit("-", 1)[0])  # then a hash of the config
    tetrominoes-nwm-seed0
    >>> print(sorted(p.name for p in run.iterdir() if not p.name.startswith(".")))
    ['checkpoint_best.pt', 'checkpoint_last.pt', 'config.json', 'metrics.csv', 'test_metrics.json']
    >>> tmp.cleanup()
    """
    config = TrainConfig.coerce(config)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    task = _check_setup(config)
    run_dir = config.run_dir()
    with process_group(config.device) as ranks:  # one rank unless under torchrun/--nproc
        # Only rank 0 writes into the run folder, so only rank 0 holds its lock.
        with run_lock(run_dir, "run folder") if ranks.is_main else contextlib.nullcontext():
            run = _train_locked(config, task, run_dir, callback, ranks)
        ranks.barrier()  # every rank returns once the run folder is complete
        return run


def _check_setup(config: TrainConfig) -> Task:
    """The config's task, after checking everything that needs no data (fail before writing)."""
    task = get_task(config.task)(config)
    check_device(config.device)
    try:
        names = sorted(task.meter().compute())
    except Exception:  # noqa: BLE001 - a meter that cannot score nothing: checked at row 1
        names = None
    if names is not None and config.monitor not in names:
        raise ValueError(f"monitor {config.monitor!r} is not a metric of task {config.task!r}; "
                         f"choose from {names}")
    try:
        task.build_model()
    except (TypeError, KeyError, AttributeError) as err:
        raise ValueError(f"model {config.model!r} of task {config.task!r} cannot be built "
                         f"with model_kwargs={config.model_kwargs} ({err})") from err
    return task


def check_device(device: str) -> None:
    """Raise ``ValueError`` unless ``device`` names a torch device present on this machine."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as err:
        raise ValueError(f"device {device!r} is not a torch device; use 'cpu', 'cuda' or "
                         "'cuda:<index>'") from err
    if dev.type == "cpu":
        return
    n_cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    present = ["cpu"] + [f"cuda:{i}" for i in range(n_cuda)]
    if dev.type == "cuda":
        ok = (dev.index or 0) < n_cuda
    elif dev.type == "mps":
        ok = torch.backends.mps.is_available()
    else:
        try:
            torch.empty(0, device=dev)
            ok = True
        except (RuntimeError, AssertionError):
            ok = False
    if not ok:
        raise ValueError(f"device {device!r} does not exist on this machine; present: "
                         f"{present}")


def _train_locked(config: TrainConfig, task: Task, run_dir: Path, callback,
                  ranks: Ranks) -> Path:
    state = _prepare_run_dir(config, run_dir) if ranks.is_main else None
    ranks.barrier()
    if not ranks.is_main and (run_dir / LAST).exists():  # what rank 0 has checked
        state = _load_checkpoint(run_dir / LAST)
    if state is not None and state.get("finished"):
        more_steps = config.max_steps is None or state["step"] < config.max_steps
        if state["epoch"] >= config.epochs or not more_steps:
            return run_dir
        state["finished"] = False  # extend: more epochs or steps than before

    splits = _splits(task, config) if ranks.is_main else None
    ranks.barrier()  # rank 0 generates or downloads the data; the others read its cache
    if splits is None:
        splits = _splits(task, config)
    if len(splits["train"]) == 0:
        raise ValueError(f"task {config.task!r} has an empty training split")
    _seed_everything(config.seed)
    model = task.build_model().to(config.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr,
                                 weight_decay=config.weight_decay)

    if state is None:
        state = {"epoch": 0, "batch": 0, "step": 0, "rows": [], "best": None,
                 "train_meter": task.meter(), "elapsed": 0.0, "finished": False}
    else:
        _load_weights(model, state, run_dir / LAST)
        optimizer.load_state_dict(state["optimizer"])
        state["train_meter"] = _restore_meter(task.meter(), state.pop("meter"))
    _rank_random_state(state, config, ranks)
    ranks.broadcast_model(model)

    mark = [time.perf_counter()]  # when training time was last added to state["elapsed"]

    def tick() -> float:
        """Add the time since the last tick to ``state["elapsed"]`` and return it all, so that
        a checkpoint carries the training time up to itself across interruptions."""
        now = time.perf_counter()
        state["elapsed"] += now - mark[0]
        mark[0] = now
        return state["elapsed"]

    def checkpoint(row: dict | None) -> None:
        tick()
        rngs = ranks.gather(_rng_state())  # every rank's random state, on rank 0
        if not ranks.is_main:  # the other ranks only keep the steps of the rows
            if row is not None:
                state["rows"].append(row)
            return
        if row is not None:
            key = f"val_{config.monitor}"
            if key not in row:
                raise ValueError(f"monitor {config.monitor!r} is not a metric of task "
                                 f"{config.task!r}; choose from "
                                 f"{sorted(k[4:] for k in row if k.startswith('val_'))}")
            row = _plain(row, "a metrics row")
            state["rows"].append(row)
            _write_csv(state["rows"], run_dir / METRICS_FILE)
            value = row[key]
            if _improved(value, state["best"], config.monitor_mode):
                state["best"] = value
                _save_torch({"format": CHECKPOINT_FORMAT, "model": model.state_dict(),
                             "epoch": row["epoch"], "step": row["step"],
                             config.monitor: value, "config": config.to_dict()},
                            run_dir / BEST)
        plain = {k: state[k] for k in ("epoch", "batch", "step", "rows", "best", "elapsed",
                                       "finished")}
        _save_torch({**_plain(plain, "the training state"), "format": CHECKPOINT_FORMAT,
                     "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "rng": rngs[0], **({"rng_ranks": rngs} if ranks.world > 1 else {}),
                     "meter": _meter_state(state["train_meter"]),
                     "config": config.to_dict()}, run_dir / LAST)
        if row is not None and callback is not None:
            callback(dict(row))

    def evaluate_row(epoch_float: float, lr: float) -> dict:
        if not ranks.is_main:  # rank 0 evaluates
            return {"step": state["step"]}
        row = {"epoch": epoch_float, "step": state["step"], "lr": lr,
               "time_s": tick()}
        train_metrics = state["train_meter"].compute()
        row.update({f"train_{k}": v for k, v in train_metrics.items()})
        val_metrics = _run_eval(task, model, splits["val"], config, "val")
        row.update({f"val_{k}": v for k, v in val_metrics.items()})
        if config.eval_test:
            test_metrics = _run_eval(task, model, splits["test"], config, "test")
            row.update({f"test_{k}": v for k, v in test_metrics.items()})
        state["train_meter"] = task.meter()
        return row

    mark[0] = time.perf_counter()  # loading data and model is not training time
    n_train = len(splits["train"])
    n_batches = math.ceil(n_train / config.batch_size)
    done = config.max_steps is not None and state["step"] >= config.max_steps
    total = min(config.epochs * n_batches, config.max_steps or config.epochs * n_batches)
    # One bar over the whole run (resumed runs start where they stopped), so that its ETA
    # is the run's, not the epoch's.
    bar = _progress(None, config, total=total, initial=min(state["step"], total), unit="step",
                    desc="train") if ranks.is_main else None
    while state["epoch"] < config.epochs and not done:
        epoch = state["epoch"]
        lr = _lr_at(config, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batches = batch_order(n_train, config.batch_size, config.seed, epoch)
        shards = [ranks.shard(b) for b in batches[state["batch"]:]]  # (this rank's, weight)
        loader = DataLoader(splits["train"], batch_sampler=[s for s, _ in shards],
                            num_workers=config.num_workers,
                            generator=_loader_generator(config, epoch))
        model.train()
        if bar is not None:
            bar.set_description(f"epoch {epoch + 1}/{config.epochs}")
        for (x, y), (_, weight) in zip(loader, shards, strict=True):
            x, y = _to_device(x, config.device), _to_device(y, config.device)
            with _autocast(config):
                out = model(x)
            out = _float32(out)
            loss = task.loss(out, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            loss_value = ranks.reduce(model, loss, weight)  # the whole batch's gradient
            if config.clip_grad > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad)
            optimizer.step()
            whole = ranks.gather_batch(out.detach(), y, weight, config.device)
            if whole is not None:  # rank 0 scores the whole batch
                state["train_meter"].update(*whole, loss_value)
            if bar is not None:
                bar.set_postfix(loss=f"{loss_value:.4f}", refresh=False)
                bar.update()
            state["step"] += 1
            state["batch"] += 1
            end_of_epoch = state["batch"] == n_batches
            if end_of_epoch:
                state["epoch"], state["batch"] = epoch + 1, 0
            done = config.max_steps is not None and state["step"] >= config.max_steps
            due = (state["step"] % config.eval_every_steps == 0 if config.eval_every_steps
                   else end_of_epoch)
            if due:
                checkpoint(evaluate_row(state["epoch"] + state["batch"] / n_batches, lr))
                model.train()
            if done:
                break
    if bar is not None:
        bar.close()

    # A final row when the last step was not evaluated (step mode, or max_steps mid-epoch).
    last_step = state["rows"][-1]["step"] if state["rows"] else -1
    if state["step"] != last_step:
        checkpoint(evaluate_row(state["epoch"] + state["batch"] / n_batches,
                                _lr_at(config, min(state["epoch"], config.epochs - 1))))
    state["finished"] = True
    checkpoint(None)
    if not ranks.is_main:
        return run_dir
    test = evaluate(run_dir, split="test", checkpoint="best", task=task, splits=splits)
    write_json(run_dir / TEST_FILE, _plain(test, "the test metrics"))
    return run_dir


def _prepare_run_dir(config: TrainConfig, run_dir: Path) -> dict | None:
    """Create the run folder, or check that it belongs to this config; return a resume state."""
    run_dir.mkdir(parents=True, exist_ok=True)
    saved = run_dir / CONFIG_FILE
    if saved.exists():
        previous = TrainConfig.load(saved)
        if previous.identity() != config.identity():
            diff = sorted(k for k, v in config.identity().items()
                          if previous.identity().get(k) != v)
            raise ValueError(
                f"{run_dir} holds a run with a different config (fields {diff}); give another "
                "`name`/`out_dir` or delete that folder"
            )
    config.save(saved)
    last = run_dir / LAST
    if not last.exists():
        return None
    state = _load_checkpoint(last)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{last} was written by an older wavescope and cannot be resumed safely; delete "
            f"the run folder {run_dir} (or give another `name`) to train again"
        )
    return state


# --------------------------------------------------------------------------- runs
def load_run(run, checkpoint: str = "best", device: str = "cpu", *, trust: bool = False):
    """Rebuild a trained run: ``(config, task, model)`` with the chosen checkpoint loaded.

    Parameters
    ----------
    run : path
        A run folder written by :func:`train`.
    checkpoint : {"best", "last"}
        Which weights to load.
    device : str
        Where to put the model.
    trust : bool
        Checkpoints are read with ``torch.load(weights_only=True)``, which runs no code from
        the file; a checkpoint holding other Python objects (older wavescope versions) is
        refused with :class:`CheckpointError`. ``trust=True`` loads it anyway: only for
        files whose origin you trust, since unpickling can run arbitrary code.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from wavescope.training import TrainConfig, load_run, train
    >>> tmp = tempfile.TemporaryDirectory()
    >>> config = TrainConfig(task="tetrominoes", model="nwm", model_kwargs={"steps": 2},
    ...                      task_kwargs={"height": 16, "width": 16, "max_pieces": 1},
    ...                      epochs=1, batch_size=2, n_train=2, n_val=2, n_test=2,
    ...                      data_root=f"{tmp.name}/data", out_dir=f"{tmp.name}/runs",
    ...                      progress=False)
    >>> config2, task, model = load_run(train(config))
    >>> print(type(model).__name__, config2.epochs, model.training)
    NeuralWaveMachine 1 False
    >>> tmp.cleanup()
    """
    run = Path(run)
    if checkpoint not in ("best", "last"):
        raise ValueError(f"checkpoint must be 'best' or 'last', got {checkpoint!r}")
    path = run / (BEST if checkpoint == "best" else LAST)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; has {run} been trained?")
    config = TrainConfig.load(run / CONFIG_FILE)
    task = get_task(config.task)(config)
    model = task.build_model()
    saved = _load_checkpoint(path, trust=trust)
    _load_weights(model, saved, path)
    check_device(device)
    return config, task, model.to(device).eval()


def evaluate(run, split: str = "test", checkpoint: str = "best", *, task: Task | None = None,
             splits: dict | None = None, device: str | None = None,
             trust: bool = False) -> dict:
    """Score a trained run on one split and return its metrics.

    Parameters
    ----------
    run : path
        A run folder written by :func:`train`.
    split : {"train", "val", "test"}
        Which split to score (limited by the config's ``n_*`` budgets).
    checkpoint : {"best", "last"}
        Which weights to use.
    device : str, optional
        Torch device (default: the run's).
    trust : bool
        Load a checkpoint that holds Python objects (see :func:`load_run`).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from wavescope.training import TrainConfig, evaluate, train
    >>> tmp = tempfile.TemporaryDirectory()
    >>> config = TrainConfig(task="tetrominoes", model="nwm", model_kwargs={"steps": 2},
    ...                      task_kwargs={"height": 16, "width": 16, "max_pieces": 1},
    ...                      epochs=1, batch_size=2, n_train=2, n_val=2, n_test=2,
    ...                      data_root=f"{tmp.name}/data", out_dir=f"{tmp.name}/runs",
    ...                      progress=False)
    >>> metrics = evaluate(train(config), split="test")
    >>> print(0 <= metrics["pixel_accuracy"] <= 1, "loss" in metrics)
    True True
    >>> tmp.cleanup()
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    config, built_task, model = load_run(run, checkpoint, trust=trust)
    if device is not None:
        config = config.replace(device=device)
    check_device(config.device)
    model = model.to(config.device)
    task = task or built_task
    splits = splits or _splits(task, config)
    return _run_eval(task, model, splits[split], config, split)
