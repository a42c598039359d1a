"""The image segmentation tasks: Tetrominoes, polygons, MNIST and Fashion-MNIST
segmentation, Multi-MNIST (and its Fashion-MNIST variant).

Every task trains a per-pixel classifier with cross-entropy and reports the metrics of
:mod:`wavescope.training.metrics`. ``config.model`` picks the network ("nwm", "convlstm",
"cnn", "unet"); ``config.model_kwargs`` override the task's defaults for it;
``config.readout`` and ``config.head`` (None: the task's default) apply to the recurrent
models. ``config.task_kwargs`` go to the data (image size, data seed, folders).
"""

from __future__ import annotations

from pathlib import Path

import torch.nn.functional as F
from torch import nn

from .data import (
    FASHION_MNIST_DIR,
    ImageMaskDataset,
    load_mnist,
    mnist_segmentation_splits,
    multi_mnist,
    polygons,
    tetrominoes,
)
from .metrics import SegmentationMeter
from .models import ConvLSTM, LocalCNN, NeuralWaveMachine, UNet
from .tasks import Task, register_task

__all__ = [
    "SegmentationTask",
    "TetrominoesTask",
    "PolygonsTask",
    "MNISTTask",
    "FashionMNISTTask",
    "MultiMNISTTask",
    "MultiFashionMNISTTask",
    "MODELS",
]

MODELS = {"nwm": NeuralWaveMachine, "convlstm": ConvLSTM, "cnn": LocalCNN, "unet": UNet}


class SegmentationTask(Task):
    """Per-pixel classification of images; subclasses give the data and the defaults."""

    in_channels = 1
    n_classes = 2
    default_head = "mlp256"
    #: model name -> default constructor arguments for this task
    model_defaults: dict[str, dict] = {
        "nwm": {"channels": 2, "steps": 100, "dt": 0.1},
        "convlstm": {"channels": 2, "steps": 20},
        "cnn": {"layers": 8, "channels": 2},
        "unet": {"width": 4},
    }

    def build_model(self) -> nn.Module:
        name = self.config.model
        if name not in MODELS:
            raise ValueError(f"unknown model {name!r} for task {self.name!r}; choose from "
                             f"{sorted(MODELS)}")
        kwargs = {"in_channels": self.in_channels, "n_classes": self.n_classes,
                  **self.model_defaults.get(name, {})}
        if name in ("nwm", "convlstm"):
            kwargs["readout"] = self.config.readout or "linear"
        if name in ("nwm", "convlstm", "cnn"):
            kwargs["head"] = self.config.head or self.default_head
        kwargs.update(self.config.model_kwargs)
        return MODELS[name](**kwargs)

    def loss(self, output, target):
        return F.cross_entropy(output, target)

    def meter(self) -> SegmentationMeter:
        return SegmentationMeter(self.n_classes)

    def _sizes(self) -> dict[str, int]:
        """Items to generate per split: the config's budgets, else the task's sizes."""
        full = {"train": 10000, "val": 1000, "test": 1000}
        full.update(self.config.task_kwargs.get("sizes", {}))
        budget = {"train": self.config.n_train, "val": self.config.n_val,
                  "test": self.config.n_test}
        return {k: min(v, budget[k]) if budget[k] else v for k, v in full.items()}

    def _data_kwargs(self, *exclude: str) -> dict:
        return {k: v for k, v in self.config.task_kwargs.items()
                if k not in ("sizes", *exclude)}

    def _generated(self, make, root) -> dict:
        """The splits of a seeded generator ``make(folder, sizes, **task_kwargs)``, cached
        in ``root/<task name>``, as datasets."""
        splits = make(Path(root) / self.name, self._sizes(), **self._data_kwargs())
        return {s: ImageMaskDataset(d["images"], d["masks"]) for s, d in splits.items()}


@register_task
class TetrominoesTask(SegmentationTask):
    """Tetrominoes segmentation: 64×64 RGB, 6 classes (:mod:`.data.tetrominoes`)."""

    name = "tetrominoes"
    in_channels = 3
    n_classes = 6

    def datasets(self, root):
        return self._generated(tetrominoes, root)


@register_task
class PolygonsTask(SegmentationTask):
    """Polygon segmentation: 32×32 grey, 7 classes (:mod:`.data.polygons`)."""

    name = "polygons"
    in_channels = 1
    n_classes = 7

    def datasets(self, root):
        return self._generated(polygons, root)


class _DigitsTask(SegmentationTask):
    in_channels = 1
    n_classes = 11
    model_defaults = {**SegmentationTask.model_defaults, "cnn": {"layers": 16, "channels": 2}}
    default_dir: Path | None = None
    download = False

    def _arrays(self, root):
        folder = self.config.task_kwargs.get("data_dir") or self.default_dir
        folder = Path(folder) if folder else Path(root) / self.name
        return load_mnist(folder, download=self.config.task_kwargs.get("download",
                                                                       self.download))


@register_task
class MNISTTask(_DigitsTask):
    """MNIST segmentation: digits at 56×56, mask = label + 1 where grey > 0.5; 11 classes.

    ``task_kwargs``: ``data_dir`` (default ``<data_root>/mnist``), ``download`` (True),
    ``n_val`` (9000), ``seed`` (split seed, 0), ``size`` (56).
    """

    name = "mnist"
    download = True

    def datasets(self, root):
        kw = self.config.task_kwargs
        return mnist_segmentation_splits(self._arrays(root), n_val=kw.get("n_val", 9000),
                                         seed=kw.get("seed", 0), size=kw.get("size", 56))


@register_task
class FashionMNISTTask(MNISTTask):
    """The MNIST segmentation pipeline on Fashion-MNIST (read from Debian's
    ``dataset-fashion-mnist`` folder unless ``task_kwargs["data_dir"]`` says otherwise)."""

    name = "fashion_mnist"
    default_dir = FASHION_MNIST_DIR
    download = False


@register_task
class MultiMNISTTask(_DigitsTask):
    """Multi-MNIST: 1–4 binarised 42×42 digits on a 128×128 canvas; 11 classes.

    The recurrent models default to the paper's Multi-MNIST NWM: C = 16, ``mlp32x5`` head.
    """

    name = "multi_mnist"
    download = True
    default_head = "mlp32x5"
    model_defaults = {**_DigitsTask.model_defaults,
                      "nwm": {"channels": 16, "steps": 100, "dt": 0.1},
                      "convlstm": {"channels": 16, "steps": 20}}

    def datasets(self, root):
        kw = self._data_kwargs("data_dir", "download")
        splits = multi_mnist(self._arrays(root), Path(root) / self.name, self._sizes(),
                             source=self.name.removeprefix("multi_"), **kw)
        return {s: ImageMaskDataset(None, d["masks"]) for s, d in splits.items()}


@register_task
class MultiFashionMNISTTask(MultiMNISTTask):
    """Multi-MNIST built from Fashion-MNIST items (named as such in every result)."""

    name = "multi_fashion_mnist"
    default_dir = FASHION_MNIST_DIR
    download = False
