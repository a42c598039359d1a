"""The configuration of one training run: a plain dataclass, saved as JSON beside the run.

Every field is a JSON value, so a run folder's ``config.json`` is the whole recipe: the same
file given to :func:`wavescope.training.train` reproduces the same numbers on CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import inspect
import json
import math
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path

from .._safeio import write_text

__all__ = ["TrainConfig", "field_choices"]

# Fields left out of a run's identity (its default folder name and the resume check): where
# and how visibly it runs, and how long. A run's first N epochs do not depend on how many
# follow (the batch order and the learning-rate schedule depend on the epoch only), so a
# finished run is extended by training it again with more epochs or steps.
# Fields added after runs were made: left out of the identity at their default, so the
# folders (and resume checks) of earlier runs stay what they were.
_ADDED_LATER = {"precision": "float32"}
_PRECISIONS = ("float32", "bf16")
_NOT_IDENTITY = ("out_dir", "name", "progress", "num_workers", "threads", "data_root",
                 "epochs", "max_steps")


@dataclass
class TrainConfig:
    """Everything that defines a training run.

    Parameters
    ----------
    task : str
        A registered task name (see :func:`wavescope.training.tasks.get_task`): an image
        segmentation task ("tetrominoes", "polygons", "mnist", ...) or a sequence task.
    model : str
        Model name understood by the task: "nwm", "convlstm", "cnn", "unet" for images, a
        sequence model ("wavernn", ...) for sequence tasks.
    model_kwargs : dict
        Constructor arguments of the model (e.g. ``{"channels": 2, "steps": 100}``).
    task_kwargs : dict
        Arguments of the task's data (e.g. image size, sequence length, data seed).
    readout : str or None
        Readout over time of the recurrent models (None: the task's default, "linear").
    head : str or None
        Per-pixel MLP head of the recurrent image models (None: the task's default).
    epochs : int
        Passes over the training split.
    batch_size : int
        Training and evaluation batch size.
    lr : float
        Adam learning rate.
    weight_decay : float
        Adam's L2 weight decay.
    seed : int
        Seeds model initialisation, batch order and every random draw of the trainer.
    clip_grad : float
        Maximum global gradient norm; 0 turns clipping off.
    lr_decay_epoch : int or None
        Every ``lr_decay_epoch`` epochs the learning rate is multiplied by
        ``lr_decay_factor`` (a step schedule); None keeps it constant.
    lr_decay_factor : float
        Factor of the step schedule.
    n_train, n_val, n_test : int or None
        Use only the first n items of each split (None: the full split).
    data_root : str
        Folder where generated data are cached and real data are looked up.
    out_dir : str
        Parent folder of run folders.
    name : str or None
        Run folder name; default: task, model, readout, seed and a hash of the config.
    num_workers : int
        DataLoader worker processes.
    device : str
        Torch device: "cpu", "cuda" or "cuda:<index>" ("mps" on Apple GPUs).
    precision : str
        "float32", or "bf16": the model's forward pass under ``torch.autocast`` to bfloat16
        (losses, gradients, weights and the optimiser stay float32; the hand-written NWM
        roll-out and pixel-MLP kernels run in float32 either way). Tolerance: outputs within
        2 % and the gradient within 5 % (relative norms) of float32 ones, validation losses
        of a short run within 5 % (``tests/training/test_distributed.py``).
    eval_every_steps : int or None
        Evaluate on validation data every N optimisation steps; None evaluates once per epoch.
    max_steps : int or None
        Stop after this many optimisation steps (None: run all epochs).
    eval_test : bool
        Also score the test split at every evaluation (``test_*`` columns of metrics.csv),
        e.g. to measure the steps a model needs to solve a task; checkpoints are still
        chosen on validation data.
    monitor : str
        Validation metric that picks the best checkpoint (default "loss").
    monitor_mode : str
        "min" or "max": whether smaller or larger ``monitor`` is better.
    progress : bool
        Show progress bars.
    threads : int or None
        ``torch.set_num_threads`` for the run: intra-op threads of this process (None leaves
        torch's default of one per core, which oversubscribes a shared machine; the small
        wave models gain little from a second thread).

    Examples
    --------
    >>> from wavescope.training import TrainConfig
    >>> cfg = TrainConfig(task="tetrominoes", model="nwm", epochs=2, model_kwargs={"steps": 4})
    >>> print(cfg.task, cfg.model, cfg.epochs, cfg.batch_size)
    tetrominoes nwm 2 64
    >>> TrainConfig(**cfg.to_dict()) == cfg
    True
    """

    task: str = "tetrominoes"
    model: str = "nwm"
    model_kwargs: dict = field(default_factory=dict)
    task_kwargs: dict = field(default_factory=dict)
    readout: str | None = None
    head: str | None = None
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    clip_grad: float = 0.0
    lr_decay_epoch: int | None = None
    lr_decay_factor: float = 0.1
    n_train: int | None = None
    n_val: int | None = None
    n_test: int | None = None
    data_root: str = "wavescope-data"
    out_dir: str = "runs"
    name: str | None = None
    num_workers: int = 0
    device: str = "cpu"
    precision: str = "float32"
    eval_every_steps: int | None = None
    max_steps: int | None = None
    eval_test: bool = False
    monitor: str = "loss"
    monitor_mode: str = "min"
    progress: bool = True
    threads: int | None = 1

    def __post_init__(self):
        self.check()

    # ----------------------------------------------------------------- validation
    def check(self) -> TrainConfig:
        """Raise ``ValueError`` naming the first bad field; return self when all are fine."""
        positive = ("epochs", "batch_size")
        for key in positive:
            if not isinstance(getattr(self, key), int) or getattr(self, key) < 1:
                raise ValueError(f"{key} must be a positive integer, got {getattr(self, key)!r}")
        for key in ("n_train", "n_val", "n_test", "eval_every_steps", "max_steps",
                    "lr_decay_epoch", "threads"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{key} must be None or a positive integer, got {value!r}")
        for key in ("lr", "weight_decay", "clip_grad", "lr_decay_factor"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
                    value):
                raise ValueError(f"{key} must be a finite number, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")
        if self.weight_decay < 0 or self.clip_grad < 0:
            raise ValueError("weight_decay and clip_grad must be >= 0 (clip_grad 0 = off)")
        if not self.lr_decay_factor > 0:
            raise ValueError(f"lr_decay_factor must be positive, got {self.lr_decay_factor!r}")
        for key in ("task", "model", "device", "monitor", "data_root", "out_dir"):
            if not isinstance(getattr(self, key), str) or not getattr(self, key):
                raise ValueError(f"{key} must be a non-empty string, got {getattr(self, key)!r}")
        _check_name(self.name)
        if self.precision not in _PRECISIONS:
            raise ValueError(f"precision must be one of {list(_PRECISIONS)}, got "
                             f"{self.precision!r}")
        if self.monitor_mode not in ("min", "max"):
            raise ValueError(f"monitor_mode must be 'min' or 'max', got {self.monitor_mode!r}")
        if not isinstance(self.model_kwargs, dict) or not isinstance(self.task_kwargs, dict):
            raise ValueError("model_kwargs and task_kwargs must be dicts")
        if self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {self.num_workers!r}")
        return self

    # ----------------------------------------------------------------- identity
    def to_dict(self) -> dict:
        """A JSON-ready copy of every field."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def identity(self) -> dict:
        """The fields that change what a run computes (not where it is written)."""
        return {k: v for k, v in self.to_dict().items() if k not in _NOT_IDENTITY
                and _ADDED_LATER.get(k, _NONE) != v}

    def digest(self) -> str:
        """A short hash of :meth:`identity`."""
        text = json.dumps(self.identity(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:8]

    def run_name(self) -> str:
        """The run folder's name: ``name`` or one built from the main fields and a hash."""
        if self.name:
            return self.name
        parts = [self.task, self.model] + ([self.readout] if self.readout else [])
        name = "-".join(parts + [f"seed{self.seed}", self.digest()])
        _check_name(name)  # task, model or readout with a separator must not leave out_dir
        return name

    def run_dir(self) -> Path:
        """``out_dir / run_name()``."""
        return Path(self.out_dir).expanduser() / self.run_name()

    def replace(self, **changes) -> TrainConfig:
        """A copy with some fields changed (a dict field given is replaced whole)."""
        return dataclasses.replace(self, **changes)

    # ----------------------------------------------------------------- JSON
    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def save(self, path) -> Path:
        """Write the config as JSON (atomically) and return the path."""
        return write_text(path, self.to_json() + "\n")

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """Build a config from a dict, rejecting unknown keys by name."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; known keys: {sorted(names)}")
        return cls(**data)

    @classmethod
    def load(cls, path) -> TrainConfig:
        """Read a config from a JSON file, or from a run folder holding ``config.json``."""
        path = Path(path)
        if path.is_dir():
            path = path / "config.json"
        if not path.exists():
            raise FileNotFoundError(f"no config at {path}; give a JSON file or a run folder")
        return cls.from_dict(json.loads(path.read_text()))

    @classmethod
    def coerce(cls, config) -> TrainConfig:
        """A checked config from a ``TrainConfig``, a dict of fields, or a JSON file or run
        folder (as :meth:`load`).

        Examples
        --------
        >>> from wavescope.training import TrainConfig
        >>> print(TrainConfig.coerce({"task": "adding", "model": "irnn"}).model)
        irnn
        """
        if isinstance(config, cls):
            return config.check()
        if isinstance(config, dict):
            return cls.from_dict(config)
        if isinstance(config, (str, os.PathLike)):
            return cls.load(config)
        raise TypeError(f"config must be a TrainConfig, dict or path, got "
                        f"{type(config).__name__}")

    # ----------------------------------------------------------------- command line
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        """Add ``--config FILE`` and one ``--field`` flag per field to ``parser``.

        Dict fields take JSON (``--model-kwargs '{"channels": 16}'``); booleans take
        ``--progress/--no-progress``; ``none`` sets an optional field to None.
        """
        parser.add_argument("--config", metavar="FILE",
                            help="JSON config file or run folder; flags override its values")
        hints = typing.get_type_hints(cls)
        helps = _field_help(cls.__doc__)
        choices = field_choices()
        defaults = cls().to_dict()
        for f in dataclasses.fields(cls):
            flag = "--" + f.name.replace("_", "-")
            hint = hints[f.name]
            listed = choices.get(f.name)
            text = helps.get(f.name, "")
            if listed:
                what = "Present here" if f.name == "device" else "Choices"
                text += f" {what}: {', '.join(listed)}."
            default = defaults[f.name]
            shown = "none" if default is None else json.dumps(default).strip('"')
            text = f"{text} (default: {shown})".strip().replace("%", "%%")
            if hint is bool:
                parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction,
                                    default=None, help=text)
            else:
                strict = listed if f.name in _STRICT_CHOICES else None
                parser.add_argument(flag, dest=f.name, default=None, help=text,
                                    type=_parser_for(hint, strict), metavar=f.name.upper())
        return parser

    @classmethod
    def from_args(cls, args: argparse.Namespace | typing.Sequence[str] | None = None
                  ) -> TrainConfig:
        """Build a config from parsed flags (or an argv list): the ``--config`` file's values,
        overridden by every flag that was given."""
        if args is None or not isinstance(args, argparse.Namespace):
            parser = cls.add_arguments(argparse.ArgumentParser(prog="wavescope train"))
            args = parser.parse_args(args)
        base = cls.load(args.config).to_dict() if getattr(args, "config", None) else {}
        for f in dataclasses.fields(cls):
            value = getattr(args, f.name, None)
            if value is not None:
                base[f.name] = None if value is _NONE else value
        return cls.from_dict(base)


_NONE = object()

# Choice fields whose value is checked when the flag is parsed; the others (model: valid
# values depend on the task, monitor: on its metrics, device: on the machine) are listed in
# the help and checked by the trainer with the task at hand.
_STRICT_CHOICES = ("task", "readout", "head", "monitor_mode", "precision")


def field_choices() -> dict[str, list[str]]:
    """The valid values of the choice fields, read from the registries of
    :mod:`wavescope.training` (this imports torch).

    Returns
    -------
    dict
        ``task``, ``model`` (image and sequence models), ``readout``, ``head``,
        ``monitor`` (the metrics of every task; ``iou_<class>`` stands for the per-class
        IoUs), ``monitor_mode`` and ``device`` (the torch devices present on this machine).
    """
    import torch

    from .models.readouts import HEADS, READOUTS
    from .tasks import registered_tasks
    from .tasks_image import MODELS
    from .tasks_seq import SEQUENCE_MODELS

    tasks = registered_tasks()
    metrics = set()
    for name, task in tasks.items():
        try:
            metrics |= set(task(TrainConfig(task=name)).meter().compute())
        except Exception:  # noqa: BLE001,S112 - a meter that needs its data: listed by others
            continue
    metrics = {"iou_<class>" if m.startswith("iou_") and m[4:].isdigit() else m
               for m in metrics}
    n_cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return {"task": sorted(tasks), "model": sorted({*MODELS, *SEQUENCE_MODELS}),
            "readout": sorted(READOUTS), "head": sorted(HEADS),
            "monitor": ["loss"] + sorted(metrics - {"loss"}), "monitor_mode": ["min", "max"],
            "precision": list(_PRECISIONS),
            "device": ["cpu"] + [f"cuda:{i}" for i in range(n_cuda)]}


def _field_help(doc: str) -> dict[str, str]:
    """Each field's description in the NumPy-style Parameters section of ``doc``, as one
    line (the docstring is the one place the fields are explained)."""
    out: dict[str, str] = {}
    names: list[str] = []
    words: list[str] = []
    body = inspect.cleandoc(doc).split("Parameters\n----------\n", 1)[-1]
    for line in body.splitlines() + ["end : flush"]:
        if " : " in line and not line.startswith(" "):
            text = re.sub(r":\w+:`~?([^`]+)`", r"\1", " ".join(words)).replace("``", "")
            out.update(dict.fromkeys(names, text))
            names = [n.strip() for n in line.split(" : ")[0].split(",")]
            words = []
        elif line.strip():
            words.append(line.strip())
    return out


def _check_name(name) -> None:
    """A run name is one folder name: no separators, no ``..``, not absolute."""
    if name is None:
        return
    seps = {"/", "\\", os.sep, os.altsep} - {None}
    if (not isinstance(name, str) or not name or name in (".", "..") or "\0" in name
            or any(sep in name for sep in seps) or os.path.isabs(name)):
        raise ValueError(f"name must be a plain folder name (no path separators, not '.' or "
                         f"'..', not absolute), got {name!r}; choose the parent with out_dir")


def _parser_for(hint, choices=None):
    """An argparse ``type`` for a field's annotation (and its valid values, if given)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    optional = type(None) in typing.get_args(hint)
    base = args[0] if args else hint

    def parse(text: str):
        if optional and text.lower() == "none":
            return _NONE
        if base is dict:
            try:
                value = json.loads(text)
            except json.JSONDecodeError as err:
                raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}") from err
            if not isinstance(value, dict):
                raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
            return value
        if choices is not None and text not in choices:
            raise argparse.ArgumentTypeError(f"expected one of {', '.join(choices)}"
                                             f"{' or none' if optional else ''}, got {text!r}")
        return base(text)

    parse.__name__ = getattr(base, "__name__", "value")
    return parse
