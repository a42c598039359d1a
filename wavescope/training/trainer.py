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

import csv
import io
import json
import math
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from .config import TrainConfig
from .tasks import Task, get_task

__all__ = ["train", "evaluate", "load_run", "read_metrics", "batch_order"]

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
LAST = "checkpoint_last.pt"
BEST = "checkpoint_best.pt"
TEST_FILE = "test_metrics.json"


# --------------------------------------------------------------------------- helpers
def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _save_torch(obj, path: Path) -> None:
    """``torch.save`` to a temporary file, then rename: a crash never leaves half a file."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    _atomic_write_bytes(path, buffer.getvalue())


def _write_csv(rows: list[dict], path: Path) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    _atomic_write_bytes(path, text.getvalue().encode())


def read_metrics(run) -> list[dict]:
    """The rows of a run's ``metrics.csv`` as dicts of floats."""
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
    # NumPy's legacy global state too: user tasks may draw from it.
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),  # noqa: NPY002
             "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])  # noqa: NPY002
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


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
        out = model(x)
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
    """
    config = _as_config(config)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    run_dir = config.run_dir()
    state = _prepare_run_dir(config, run_dir)
    if state is not None and state.get("finished"):
        more_steps = config.max_steps is None or state["step"] < config.max_steps
        if state["epoch"] >= config.epochs or not more_steps:
            return run_dir
        state["finished"] = False  # extend: more epochs or steps than before

    task = get_task(config.task)(config)
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
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        _set_rng_state(state["rng"])

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
        if row is not None:
            state["rows"].append(row)
            _write_csv(state["rows"], run_dir / METRICS_FILE)
            value = row.get(f"val_{config.monitor}", math.nan)
            if _improved(value, state["best"], config.monitor_mode):
                state["best"] = value
                _save_torch({"model": model.state_dict(), "epoch": row["epoch"],
                             "step": row["step"], config.monitor: value,
                             "config": config.to_dict()}, run_dir / BEST)
        state.update(model=model.state_dict(), optimizer=optimizer.state_dict(),
                     rng=_rng_state(), config=config.to_dict())
        _save_torch(state, run_dir / LAST)
        if row is not None and callback is not None:
            callback(dict(row))

    def evaluate_row(epoch_float: float, lr: float) -> dict:
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
    while state["epoch"] < config.epochs and not done:
        epoch = state["epoch"]
        lr = _lr_at(config, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batches = batch_order(n_train, config.batch_size, config.seed, epoch)
        loader = DataLoader(splits["train"], batch_sampler=batches[state["batch"]:],
                            num_workers=config.num_workers,
                            generator=_loader_generator(config, epoch))
        model.train()
        bar = _progress(loader, config, desc=f"epoch {epoch + 1}/{config.epochs}",
                        total=n_batches - state["batch"])
        for x, y in bar:
            x, y = _to_device(x, config.device), _to_device(y, config.device)
            out = model(x)
            loss = task.loss(out, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.clip_grad > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad)
            optimizer.step()
            loss_value = float(loss.detach())
            state["train_meter"].update(out.detach(), y, loss_value)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{loss_value:.4f}")
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

    # A final row when the last step was not evaluated (step mode, or max_steps mid-epoch).
    last_step = state["rows"][-1]["step"] if state["rows"] else -1
    if state["step"] != last_step:
        checkpoint(evaluate_row(state["epoch"] + state["batch"] / n_batches,
                                _lr_at(config, min(state["epoch"], config.epochs - 1))))
    state["finished"] = True
    checkpoint(None)
    test = evaluate(run_dir, split="test", checkpoint="best", task=task, splits=splits)
    _atomic_write_bytes(run_dir / TEST_FILE, (json.dumps(test, indent=2) + "\n").encode())
    return run_dir


def _as_config(config) -> TrainConfig:
    if isinstance(config, TrainConfig):
        return config.check()
    if isinstance(config, dict):
        return TrainConfig.from_dict(config)
    if isinstance(config, (str, os.PathLike)):
        return TrainConfig.load(config)
    raise TypeError(f"config must be a TrainConfig, dict or path, got {type(config).__name__}")


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
    return torch.load(last, map_location="cpu", weights_only=False)


# --------------------------------------------------------------------------- runs
def load_run(run, checkpoint: str = "best", device: str = "cpu"):
    """Rebuild a trained run: ``(config, task, model)`` with the chosen checkpoint loaded.

    Parameters
    ----------
    run : path
        A run folder written by :func:`train`.
    checkpoint : {"best", "last"}
        Which weights to load.
    device : str
        Where to put the model.
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
    saved = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(saved["model"])
    return config, task, model.to(device).eval()


def evaluate(run, split: str = "test", checkpoint: str = "best", *, task: Task | None = None,
             splits: dict | None = None, device: str | None = None) -> dict:
    """Score a trained run on one split and return its metrics.

    Parameters
    ----------
    run : path
        A run folder written by :func:`train`.
    split : {"train", "val", "test"}
        Which split to score (limited by the config's ``n_*`` budgets).
    checkpoint : {"best", "last"}
        Which weights to use.
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    config, built_task, model = load_run(run, checkpoint)
    if device is not None:
        config = config.replace(device=device)
    model = model.to(config.device)
    task = task or built_task
    splits = splits or _splits(task, config)
    return _run_eval(task, model, splits[split], config, split)
