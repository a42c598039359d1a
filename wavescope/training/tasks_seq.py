"""The sequence tasks of Keller et al. 2024, as :class:`~wavescope.training.tasks.Task` s.

Registered names (``TrainConfig.task``) and their ``task_kwargs``:

``adding``
    ``T`` (100), ``data_seed`` (0), ``train_size`` (2**20). Loss and metric: MSE; a model
    has *solved* the task when the test MSE is at most 0.05 (predicting the mean scores 1/6).
``copy``
    ``T`` (10, blanks between the symbols and the delimiter), ``data_seed``, ``train_size``.
    Loss: cross-entropy over every step (reported as ``cross_entropy``, its real name).
``smnist`` / ``psmnist``, ``fashion_smnist`` / ``fashion_psmnist``
    Sequential (permuted) MNIST or Fashion-MNIST, 784 steps of one pixel. ``data_dir`` (the
    four IDX files; default ``data_root/mnist``, or Debian's Fashion-MNIST folder),
    ``download`` (MNIST only, True), ``split_seed`` (0), ``n_val_split`` (3000: the
    57,000 / 3,000 split of the training set), and for the permuted tasks ``perm_seed`` (0).
    The permutation is written to the run folder. Results on the Fashion tasks are
    "sequential Fashion-MNIST" results.
``noisy_scifar10``
    Noisy sequential CIFAR-10: ``data_dir`` (the CIFAR-10 python files, default
    ``data_root/cifar10``), ``noise_seed`` (0), ``split_seed`` (0), ``n_val_split`` (3000).
    The noise is written to the run folder.

``TrainConfig.model`` is one of :data:`SEQUENCE_MODELS` ("wavernn", "irnn", "lstm", "gru"),
built with the task's input and output sizes, ``readout=config.readout`` ("linear", the
default, or "mlp") and ``config.model_kwargs``. The held-out splits of the synthetic tasks come from
``data_seed`` only (the same test set for every model and training seed); the training
stream comes from ``config.seed``. No split shares an instance with another.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch.nn.functional as F

from .._safeio import safe_write
from .data.mnist import FASHION_MNIST_DIR, load_mnist
from .data.sequences import (
    GeneratedSequences,
    NoisyCIFARSequences,
    SequentialImages,
    cifar_noise,
    seeded_permutation,
)
from .models.gated import GatedRNN
from .models.irnn import IRNN
from .models.wavernn import WaveRNN
from .tasks import Meter, Task, register_task

__all__ = [
    "SEQUENCE_MODELS",
    "AddingTask",
    "CopyTask",
    "SequentialMNISTTask",
    "PermutedSequentialMNISTTask",
    "SequentialFashionMNISTTask",
    "PermutedSequentialFashionMNISTTask",
    "NoisyCIFAR10Task",
    "MSEMeter",
    "CopyMeter",
    "AccuracyMeter",
    "SOLVED_MSE",
    "solved_step",
]

SOLVED_MSE = 0.05
SEQUENCE_MODELS = {
    "wavernn": WaveRNN,
    "irnn": IRNN,
    "lstm": lambda *a, **k: GatedRNN(*a, cell="lstm", **k),
    "gru": lambda *a, **k: GatedRNN(*a, cell="gru", **k),
}
_HELD_OUT = 1000  # default size of the synthetic tasks' validation and test sets


# --------------------------------------------------------------------------- meters
class MSEMeter(Meter):
    """Mean squared error over all items seen (``loss`` and ``mse``)."""

    def __init__(self):
        self.total, self.count = 0.0, 0

    def update(self, output, target, loss):
        self.total += float(((output.detach() - target) ** 2).sum())
        self.count += target.numel()

    def compute(self):
        mse = self.total / max(self.count, 1)
        return {"loss": mse, "mse": mse}


class AccuracyMeter(Meter):
    """Cross-entropy and accuracy of a classifier over all items seen."""

    def __init__(self):
        self.loss_sum, self.correct, self.count = 0.0, 0, 0

    def update(self, output, target, loss):
        self.loss_sum += float(loss) * len(target)
        self.correct += int((output.argmax(-1) == target).sum())
        self.count += len(target)

    def compute(self):
        n = max(self.count, 1)
        return {"loss": self.loss_sum / n, "cross_entropy": self.loss_sum / n,
                "accuracy": self.correct / n}


class CopyMeter(Meter):
    """Copy task: cross-entropy over every step, accuracy on all and on the recalled steps."""

    def __init__(self, memory: int = 10):
        self.memory = memory
        self.ce_sum, self.steps, self.correct, self.recalled, self.recall_steps = 0.0, 0, 0, 0, 0

    def update(self, output, target, loss):
        output = output.detach()
        # In float64: a well-trained model's cross-entropy (down to ~1e-10) is below what
        # float32's log-sum-exp resolves.
        self.ce_sum += float(F.cross_entropy(output.flatten(0, 1).double(), target.flatten(),
                                             reduction="sum"))
        hit = output.argmax(-1) == target
        self.correct += int(hit.sum())
        self.steps += target.numel()
        self.recalled += int(hit[:, -self.memory:].sum())
        self.recall_steps += hit[:, -self.memory:].numel()

    def compute(self):
        ce = self.ce_sum / max(self.steps, 1)
        return {"loss": ce, "cross_entropy": ce, "accuracy": self.correct / max(self.steps, 1),
                "recall_accuracy": self.recalled / max(self.recall_steps, 1)}


# --------------------------------------------------------------------------- base
class _SequenceTask(Task):
    """Options, model building and the run-folder artefacts shared by the sequence tasks."""

    n_in: int = 1
    n_out: int = 1
    per_step: bool = False
    defaults: dict = {}

    def __init__(self, config):
        super().__init__(config)
        given = dict(config.task_kwargs or {})
        unknown = sorted(set(given) - set(self.defaults))
        if unknown:
            raise ValueError(
                f"task {self.name!r} has no options {unknown}; its task_kwargs are "
                f"{sorted(self.defaults)}"
            )
        self.options = {**self.defaults, **given}

    def build_model(self):
        name = self.config.model
        if name not in SEQUENCE_MODELS:
            raise ValueError(
                f"model {name!r} is not a sequence model; choose one of {sorted(SEQUENCE_MODELS)}"
            )
        kwargs = {"readout": self.config.readout or "linear", **self.config.model_kwargs}
        if "per_step" in kwargs and bool(kwargs["per_step"]) != self.per_step:
            raise ValueError(f"task {self.name!r} needs per_step={self.per_step}")
        kwargs["per_step"] = self.per_step
        return SEQUENCE_MODELS[name](self.n_in, self.n_out, **kwargs)

    def _held_out_size(self, n: int | None) -> int:
        return _HELD_OUT if n is None else int(n)

    def _store(self, name: str, array: np.ndarray) -> Path:
        """Keep ``array`` in the run folder (``name``.npy); refuse to change a stored one."""
        run_dir = self.config.run_dir()
        run_dir.mkdir(parents=True, exist_ok=True)
        path = run_dir / f"{name}.npy"
        if path.exists():
            if not np.array_equal(np.load(path), array):
                raise ValueError(f"{path} differs from the {name} this config draws; "
                                 "was the folder reused for another run?")
            return path
        with safe_write(path, "wb") as fh:
            np.save(fh, array)
        return path


class _GeneratedTask(_SequenceTask):
    kind = ""
    defaults = {"T": 100, "data_seed": 0, "train_size": 2**20}

    def datasets(self, root):
        T, data_seed = int(self.options["T"]), int(self.options["data_seed"])
        cfg = self.config
        test = GeneratedSequences(self.kind, self._held_out_size(cfg.n_test), T,
                                  [data_seed, 2], materialize=True)
        val = GeneratedSequences(self.kind, self._held_out_size(cfg.n_val), T, [data_seed, 1],
                                 exclude=test.keys(), materialize=True)
        held_out = test.keys() | val.keys()
        size = cfg.n_train if cfg.n_train is not None else int(self.options["train_size"])
        train = GeneratedSequences(self.kind, size, T, [cfg.seed, 0], exclude=held_out)
        return {"train": train, "val": val, "test": test}


@register_task
class AddingTask(_GeneratedTask):
    """The adding problem: sum the two marked values of a length-T sequence (MSE)."""

    name = "adding"
    kind = "adding"
    n_in, n_out = 2, 1

    def loss(self, output, target):
        return F.mse_loss(output, target)

    def meter(self):
        return MSEMeter()


@register_task
class CopyTask(_GeneratedTask):
    """The copy task: recall 10 symbols after T blanks (cross-entropy over every step)."""

    name = "copy"
    kind = "copy"
    n_in, n_out, per_step = 10, 10, True
    defaults = {"T": 10, "data_seed": 0, "train_size": 2**20}

    def loss(self, output, target):
        return F.cross_entropy(output.flatten(0, 1), target.flatten())

    def meter(self):
        return CopyMeter()


class _ClassificationTask(_SequenceTask):
    n_out = 10

    def loss(self, output, target):
        return F.cross_entropy(output, target)

    def meter(self):
        return AccuracyMeter()

    def _split_train(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        n_val = int(self.options["n_val_split"])
        if not 0 < n_val < n:
            raise ValueError(f"n_val_split={n_val} must lie between 0 and the {n} training items")
        order = np.random.default_rng(int(self.options["split_seed"])).permutation(n)
        return np.sort(order[n_val:]), np.sort(order[:n_val])


@register_task
class SequentialMNISTTask(_ClassificationTask):
    """Sequential MNIST: 784 steps of one pixel (grey value in [0, 1])."""

    name = "smnist"
    defaults = {"data_dir": None, "download": True, "split_seed": 0, "n_val_split": 3000}
    default_dir: Path | None = None  # None: <data_root>/mnist

    def _permutation(self):
        return None

    def datasets(self, root):
        folder = self.options["data_dir"] or self.default_dir or Path(root) / "mnist"
        arrays = load_mnist(folder, download=bool(self.options["download"]))
        images, labels = arrays["train_images"], arrays["train_labels"]
        train_idx, val_idx = self._split_train(len(images))
        perm = self._permutation()
        return {
            "train": SequentialImages(images[train_idx], labels[train_idx], perm),
            "val": SequentialImages(images[val_idx], labels[val_idx], perm),
            "test": SequentialImages(arrays["test_images"], arrays["test_labels"], perm),
        }


class _Permuted:
    """Mixin: read the pixels in one fixed, seeded order, stored in the run folder."""

    def _permutation(self):
        perm = seeded_permutation(28 * 28, int(self.options["perm_seed"]))
        self._store("permutation", perm)
        return perm


@register_task
class PermutedSequentialMNISTTask(_Permuted, SequentialMNISTTask):
    """Permuted sequential MNIST: the pixels in one fixed, seeded order."""

    name = "psmnist"
    defaults = {**SequentialMNISTTask.defaults, "perm_seed": 0}


@register_task
class SequentialFashionMNISTTask(SequentialMNISTTask):
    """Sequential Fashion-MNIST (Debian's ``dataset-fashion-mnist`` folder by default)."""

    name = "fashion_smnist"
    defaults = {**SequentialMNISTTask.defaults, "download": False}
    default_dir = FASHION_MNIST_DIR


@register_task
class PermutedSequentialFashionMNISTTask(_Permuted, SequentialFashionMNISTTask):
    """Permuted sequential Fashion-MNIST."""

    name = "fashion_psmnist"
    defaults = {**SequentialFashionMNISTTask.defaults, "perm_seed": 0}


@register_task
class NoisyCIFAR10Task(_ClassificationTask):
    """Noisy sequential CIFAR-10: 32 image rows, then 968 steps of one fixed noise tensor."""

    name = "noisy_scifar10"
    n_in = 96
    defaults = {"data_dir": None, "noise_seed": 0, "split_seed": 0, "n_val_split": 3000}

    def datasets(self, root):
        from .data.cifar import load_cifar10

        data = load_cifar10(self.options["data_dir"] or Path(root) / "cifar10")
        noise = cifar_noise(int(self.options["noise_seed"]))
        self._store("noise", noise)
        images, labels = data["train"]
        train_idx, val_idx = self._split_train(len(images))
        return {
            "train": NoisyCIFARSequences(images[train_idx], labels[train_idx], noise),
            "val": NoisyCIFARSequences(images[val_idx], labels[val_idx], noise),
            "test": NoisyCIFARSequences(*data["test"], noise),
        }


def solved_step(rows: list[dict], column: str = "test_mse", threshold: float = SOLVED_MSE):
    """The first optimisation step whose ``column`` is at most ``threshold`` (None if never).

    ``rows`` are a run's metrics rows (:func:`wavescope.training.trainer.read_metrics`).
    """
    for row in rows:
        value = row.get(column)
        if value is not None and value == value and value <= threshold:
            return int(row["step"])
    return None
