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

__all__ = ["Meter", "Task", "register_task", "get_task", "registered_tasks", "TASKS"]

TASKS: dict[str, type[Task]] = {}

# Modules whose import registers the built-in tasks; imported on the first lookup so that
# `import wavescope.training` stays light. A module that does not exist (yet) is skipped.
BUILTIN_TASK_MODULES = (
    "wavescope.training.tasks_image",
    "wavescope.training.tasks_seq",
)


class Meter(abc.ABC):
    """Accumulates model outputs over an epoch and turns them into named metrics.

    Examples
    --------
    >>> import torch
    >>> from wavescope.training.tasks import Meter
    >>> class MeanLoss(Meter):
    ...     def __init__(self):
    ...         self.total, self.n = 0.0, 0
    ...     def update(self, output, target, loss):
    ...         self.total, self.n = self.total + loss * len(target), self.n + len(target)
    ...     def compute(self):
    ...         return {"loss": self.total / self.n}
    >>> meter = MeanLoss()
    >>> meter.update(torch.zeros(2), torch.zeros(2), loss=1.0)
    >>> meter.update(torch.zeros(6), torch.zeros(6), loss=3.0)
    >>> meter.compute()
    {'loss': 2.5}
    """

    @abc.abstractmethod
    def update(self, output: torch.Tensor, target: torch.Tensor, loss: float) -> None:
        """Add one batch (``loss`` is the batch's mean loss)."""

    @abc.abstractmethod
    def compute(self) -> dict[str, float]:
        """Metrics over everything added so far; always includes ``loss``."""


class Task(abc.ABC):
    """One learning problem. Subclasses set ``name`` and register with :func:`register_task`.

    Examples
    --------
    >>> import tempfile
    >>> import torch
    >>> from torch import nn
    >>> from wavescope.training import TrainConfig, load_run, train
    >>> from wavescope.training.tasks import TASKS, Meter, Task, register_task
    >>> class MeanLoss(Meter):
    ...     def __init__(self):
    ...         self.total, self.n = 0.0, 0
    ...     def update(self, output, target, loss):
    ...         self.total, self.n = self.total + loss * len(target), self.n + len(target)
    ...     def compute(self):
    ...         return {"loss": self.total / self.n}
    >>> @register_task
    ... class Slope(Task):  # learn y = 2 x
    ...     name = "doc_slope"
    ...     def datasets(self, root):
    ...         x = torch.linspace(-1, 1, 40)[:, None]
    ...         data = torch.utils.data.TensorDataset(x, 2 * x[:, 0])
    ...         return {"train": data, "val": data, "test": data}
    ...     def build_model(self):
    ...         return Line()
    ...     def loss(self, output, target):
    ...         return nn.functional.mse_loss(output, target)
    ...     def meter(self):
    ...         return MeanLoss()
    >>> class Line(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.lin = nn.Linear(1, 1)
    ...     def forward(self, x, return_hidden=False):
    ...         out = self.lin(x)[:, 0]
    ...         return (out, x[:, None, :, None]) if return_hidden else out
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     run = train(TrainConfig(task="doc_slope", model="line", epochs=30, batch_size=8,
    ...                             lr=0.1, out_dir=tmp, progress=False))
    ...     _, _, model = load_run(run)
    ...     print(round(float(model.lin.weight.detach()), 1))  # the slope learnt
    ...
    2.0
    >>> del TASKS["doc_slope"]  # leave the registry as it was
    """

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
    """Class decorator adding a task to the registry under ``cls.name``.

    Examples
    --------
    >>> from wavescope.training.tasks import TASKS, Task, get_task, register_task
    >>> @register_task
    ... class Nothing(Task):
    ...     name = "doc_nothing"
    >>> get_task("doc_nothing") is Nothing
    True
    >>> del TASKS["doc_nothing"]  # leave the registry as it was
    """
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    TASKS[cls.name] = cls
    return cls


def get_task(name: str) -> type[Task]:
    """The task class registered as ``name`` (built-in task modules are imported first).

    Raises ``ValueError`` listing the known tasks when ``name`` is not one of them.

    Examples
    --------
    >>> from wavescope.training.tasks import get_task
    >>> print(get_task("tetrominoes").__name__)
    TetrominoesTask
    >>> try:
    ...     get_task("no-such-task")
    ... except ValueError as err:
    ...     print(str(err).split(";")[0])
    ...
    unknown task 'no-such-task'
    """
    if name not in TASKS:
        registered_tasks()
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; known tasks: {sorted(TASKS)}") from None


def registered_tasks() -> dict[str, type[Task]]:
    """Every registered task by name, the built-in ones imported first (their modules
    register themselves on import; one whose optional dependency is missing is left out).

    Examples
    --------
    >>> from wavescope.training.tasks import registered_tasks
    >>> print({"polygons", "adding", "copy"} <= set(registered_tasks()))
    True
    """
    for module in BUILTIN_TASK_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:  # a real missing dependency inside the module
                raise
    return TASKS
