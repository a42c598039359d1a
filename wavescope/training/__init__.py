"""Models that make waves, their data and trainer, and export of their hidden states.

Public names (loaded on first use, so importing the package stays light):

``train(config) -> run folder``, ``evaluate(run)``, ``load_run(run)``, ``TrainConfig``,
``sweep(spec)``, ``export_hidden_states(run_or_model, data)``, and the subpackages
``models`` and ``data``.
"""

from importlib.util import find_spec

from .._lazy import lazy_attributes


def _torch_installed() -> bool:
    try:
        return find_spec("torch") is not None
    except (ImportError, ValueError):  # blocked, or a broken install
        return False


# torch is an optional dependency: without it everything but this package works.
if not _torch_installed():
    raise ImportError("wavescope.training (models, training, hidden-state export) needs "
                      "PyTorch, which is not installed: pip install 'wavescope[training]'")

__all__ = [
    "TrainConfig",
    "train",
    "evaluate",
    "load_run",
    "read_metrics",
    "sweep",
    "export_hidden_states",
    "models",
    "data",
    "metrics",
    "tasks",
]

_LAZY = {
    "TrainConfig": ("wavescope.training.config", "TrainConfig"),
    "train": ("wavescope.training.trainer", "train"),
    "evaluate": ("wavescope.training.trainer", "evaluate"),
    "load_run": ("wavescope.training.trainer", "load_run"),
    "read_metrics": ("wavescope.training.trainer", "read_metrics"),
    "sweep": ("wavescope.training.sweeps", "sweep"),
    "export_hidden_states": ("wavescope.training.export", "export_hidden_states"),
}
_SUBMODULES = {"models", "data", "metrics", "tasks", "config", "trainer", "export", "sweeps",
               "tasks_image", "tasks_seq", "distributed"}

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, _SUBMODULES, globals())
