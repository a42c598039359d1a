"""The contract between the trainer and a learning problem.

A :class:`Task` knows how to build its data splits, its model, its loss and its metrics
from a :class:`~wavescope.training.config.TrainConfig`. The one trainer
(:func:`wavescope.training.train`) serves every registered task, image or sequence.
"""

from __future__ import annotations

import abc

import torch
from torch import nn

__all__ = ["Meter", "Task", "register_task", "get_task", "TASKS"]

TASKS: dict[str, type[Task]] = {}


class Meter(abc.ABC):
    """Accumulates model outputs over an epoch and turns them into named metrics."""

    @abc.abstractmethod
    def update(self, output: torch.Tensor, target: torch.Tensor, loss: float) -> None:
        """Add one batch (``loss`` is the batch's mean loss)."""

    @abc.abstractmethod
    def compute(self) -> dict[str, float]:
        """Metrics over everything added so far; always includes ``loss``."""


class Task(abc.ABC):
    """One learning problem. Subclasses set ``name`` and register with :func:`register_task`."""

    name: str = ""

    def __init__(self, config):
        self.config = config

    @abc.abstractmethod
    def datasets(self, root) -> dict[str, torch.utils.data.Dataset]:
        """The "train", "val" and "test" splits; ``root`` is a cache folder for generated data.

        Each item is an ``(input, target)`` pair of tensors.
        """

    @abc.abstractmethod
    def build_model(self) -> nn.Module:
        """A fresh model; ``model(x, return_hidden=True)`` gives ``(output, hidden)`` with
        hidden of shape (batch, time, feature, *space)."""

    @abc.abstractmethod
    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Scalar training loss."""

    @abc.abstractmethod
    def meter(self) -> Meter:
        """A fresh metric accumulator."""


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator adding a task to the registry under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    TASKS[cls.name] = cls
    return cls


def get_task(name: str) -> type[Task]:
    """The task class registered as ``name``."""
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; known tasks: {sorted(TASKS)}") from None
