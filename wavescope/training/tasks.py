"""The contract between the trainer and a learning problem.

A :class:`Task` knows how to build its data splits, its model, its loss and its metrics
from a :class:`~wavescope.training.config.TrainConfig`. The one trainer
(:func:`wavescope.training.train`) serves every registered task, image or sequence.
"""

from __future__ import annotations

import abc
import importlib

import torch
from torch import nn

__all__ = ["Meter", "Task", "register_task", "get_task", "TASKS"]

TASKS: dict[str, type[Task]] = {}

# Modules whose import registers the built-in tasks; imported on the first lookup so that
# `import wavescope.training` stays light. A module that does not exist (yet) is skipped.
BUILTIN_TASK_MODULES = (
    "wavescope.training.tasks_image",
    "wavescope.training.tasks_seq",
)


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

        Each item is an ``(input, target)`` pair of tensors. The trainer uses the first
        ``config.n_train`` / ``n_val`` / ``n_test`` items of each split; a task that
        generates data may read those budgets to generate no more than that.
        """

    @abc.abstractmethod
    def build_model(self) -> nn.Module:
        """A fresh model; ``model(x, return_hidden=True)`` gives ``(output, hidden)`` with
        hidden of shape ``(batch, time, feature, *space)``."""

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
    """The task class registered as ``name`` (built-in task modules are imported first).

    Raises ``ValueError`` listing the known tasks when ``name`` is not one of them.
    """
    if name not in TASKS:
        _import_builtin_tasks()
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; known tasks: {sorted(TASKS)}") from None


def _import_builtin_tasks() -> None:
    for module in BUILTIN_TASK_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:  # a real missing dependency inside the module
                raise
