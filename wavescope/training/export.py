"""Export of a trained model's hidden states as an xarray Dataset in the data model.

The Dataset holds

``hidden``
    the recorded states, dims (trial, time, feature, y, x) for image models or
    (trial, time, feature, x) for a ring of units (the Wave-RNN; ``periodic`` = 1). Time is
    (step + 1)·dt in ``time_units`` "time unit" (the time unit of the dynamics; ``dt``, the
    step in time units, and ``sfreq`` = 1 / dt are attributes); positions are pixel
    indices (``space_units`` "pixel"); ``source`` "model". It is a valid activity, so
    :mod:`wavescope.analysis` reads it unchanged.
``input``
    the inputs: (trial, input_channel, y, x) for images, (trial, time, input_channel) for
    sequences as long as the hidden states, else (trial, input_dim_1, ...).
``label``
    the targets: (trial, y, x) masks, (trial,) classes, (trial, time) sequences, ...

and, in its attributes, the model's class and the training configuration as JSON strings.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from ..core import from_array
from .config import TrainConfig

__all__ = ["export_hidden_states", "hidden_to_dataarray"]


def hidden_to_dataarray(hidden, dt: float = 1.0, periodic: bool | None = None,
                        provenance: dict | None = None) -> xr.DataArray:
    """Hidden states (trial, time, feature, *space) as a validated activity.

    Parameters
    ----------
    hidden : array_like
        (B, T, C, H, W) for a grid, or (B, T, C, n) for a line or ring of units.
    dt : float
        Time step: time = (step + 1)·dt, sfreq = 1 / dt.
    periodic : bool, optional
        Whether space wraps around; default True for a ring (4-D input), False for a grid.
    provenance : dict, optional
        Recorded as the activity's provenance.
    """
    hidden = np.asarray(hidden)
    if hidden.ndim == 5:
        dims = ("trial", "time", "feature", "y", "x")
    elif hidden.ndim == 4:
        dims = ("trial", "time", "feature", "x")
    else:
        raise ValueError(f"hidden states must be (B, T, C, H, W) or (B, T, C, n), got shape "
                         f"{hidden.shape}")
    if not dt > 0:
        raise ValueError(f"dt must be positive, got {dt!r}")
    if periodic is None:
        periodic = hidden.ndim == 4
    da = from_array(hidden, dims, sfreq=1.0 / dt, t0=dt, units="a.u.", time_units="time unit",
                    space_units="pixel", source="model", periodic=periodic, name="hidden",
                    provenance=provenance)
    return da.assign_attrs(dt=float(dt))


def _model_and_config(run_or_model, checkpoint: str, device: str, trust: bool):
    if isinstance(run_or_model, torch.nn.Module):
        return run_or_model, None, None
    from .trainer import load_run

    config, task, model = load_run(run_or_model, checkpoint=checkpoint, device=device,
                                   trust=trust)
    return model, config, task


def _batches(data, batch_size: int, n_trials: int | None):
    """(input, target or None) batches from a Dataset, a tensor or an (inputs, targets) pair."""
    if isinstance(data, torch.utils.data.Dataset):
        n = len(data) if n_trials is None else min(n_trials, len(data))
        subset = torch.utils.data.Subset(data, range(n))
        yield from torch.utils.data.DataLoader(subset, batch_size=batch_size)
        return
    if isinstance(data, (tuple, list)) and len(data) == 2:
        inputs, targets = (torch.as_tensor(np.asarray(d)) if not isinstance(d, torch.Tensor)
                           else d for d in data)
    else:
        inputs = data if isinstance(data, torch.Tensor) else torch.as_tensor(np.asarray(data))
        targets = None
    n = len(inputs) if n_trials is None else min(n_trials, len(inputs))
    for i in range(0, n, batch_size):
        j = min(i + batch_size, n)
        yield inputs[i:j], (targets[i:j] if targets is not None else None)


def _run(model, data, batch_size, n_trials, device, dtype):
    hidden, inputs, labels = [], [], []
    for x, y in _batches(data, batch_size, n_trials):
        out = model(x.to(device), return_hidden=True)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(f"{type(model).__name__}.forward(x, return_hidden=True) must return "
                            "(output, hidden)")
        hidden.append(out[1].detach().cpu().numpy().astype(dtype, copy=False))
        inputs.append(x.cpu().numpy())
        if y is not None:
            labels.append(np.asarray(y.cpu().numpy() if isinstance(y, torch.Tensor) else y))
    return hidden, inputs, labels


def _variable(values: np.ndarray, hidden_dims: tuple, hidden_shape: tuple, kind: str):
    """Dims for the input or label array, reusing the hidden states' names where they fit."""
    shape = values.shape[1:]
    space = hidden_dims[3:]
    space_shape = hidden_shape[3:]
    if kind == "input" and len(space) == 2 and len(shape) == 3 and shape[1:] == space_shape:
        return ("trial", "input_channel", *space)
    if kind == "label" and len(space) == 2 and shape == space_shape:
        return ("trial", *space)
    if len(shape) >= 1 and shape[0] == hidden_shape[1]:
        rest = ("input_channel",) if kind == "input" and len(shape) == 2 else tuple(
            f"{kind}_dim_{i}" for i in range(2, len(shape) + 1))
        return ("trial", "time", *rest)
    return ("trial", *(f"{kind}_dim_{i}" for i in range(1, len(shape) + 1)))


@torch.no_grad()
def export_hidden_states(run_or_model, data=None, *, split: str = "test",
                         n_trials: int | None = None, batch_size: int = 16,
                         checkpoint: str = "best", config: TrainConfig | dict | None = None,
                         dt: float | None = None, device: str = "cpu",
                         dtype=np.float32, trust: bool = False) -> xr.Dataset:
    """Run a model on some data and return its hidden states as a Dataset.

    Parameters
    ----------
    run_or_model : path or torch.nn.Module
        A run folder written by :func:`wavescope.training.train` (its ``checkpoint``
        weights are loaded), or a model whose ``forward(x, return_hidden=True)`` gives
        ``(output, hidden)``.
    data : Dataset, tensor, (inputs, targets) or None
        What to run on; None takes the run's ``split`` split (runs only).
    split : {"train", "val", "test"}
        Split used when ``data`` is None.
    n_trials : int, optional
        Use only the first n items.
    batch_size : int
        Items per forward pass.
    checkpoint : {"best", "last"}
        Weights of a run to use.
    config : TrainConfig or dict, optional
        Training configuration to record (a run's own is used by default).
    dt : float, optional
        Time step of the hidden states; default the model's ``dt`` attribute, else 1.
    device : str
        Torch device for the forward passes of a run's model (a model passed in runs where
        its parameters are, and is left in the mode it came in).
    dtype : numpy dtype
        Dtype of the exported hidden states.
    trust : bool
        Load a run's checkpoint even when it holds Python objects that unpickling would
        run (older wavescope versions); see :func:`wavescope.training.load_run`.

    Returns
    -------
    xarray.Dataset
        ``hidden``, ``input`` and ``label`` (when targets are known) as described in the
        module docstring; attributes ``model`` (class name), ``train_config`` (JSON),
        ``checkpoint`` and ``run``.

    Examples
    --------
    >>> import torch
    >>> from wavescope.training import export_hidden_states
    >>> from wavescope.training.models import NeuralWaveMachine
    >>> model = NeuralWaveMachine(in_channels=3, channels=2, n_classes=6, steps=5)
    >>> images = torch.zeros(2, 3, 16, 16)  # (trial, channel, y, x)
    >>> ds = export_hidden_states(model, images)
    >>> print(ds["hidden"].dims, ds["hidden"].shape)
    ('trial', 'time', 'feature', 'y', 'x') (2, 5, 2, 16, 16)
    >>> print(ds["hidden"].attrs["source"], ds.attrs["model"])
    model NeuralWaveMachine
    """
    model, run_config, task = _model_and_config(run_or_model, checkpoint, device, trust)
    from_split = data is None
    if data is None:
        if task is None:
            raise ValueError("give `data` when exporting a model (not a run folder)")
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
        data = task.datasets(Path(run_config.data_root).expanduser())[split]
    if isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    config = config or run_config
    if n_trials is not None and n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    if run_config is None:  # the caller's model: run it where it is, restore its mode after
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    else:
        model = model.to(device)
    was_training = model.training
    model.eval()
    try:
        hidden, inputs, labels = _run(model, data, batch_size, n_trials, device, dtype)
    finally:
        model.train(was_training)
    if not hidden:
        raise ValueError("no data to export (empty data set)")
    hidden = np.concatenate(hidden)
    dt = float(dt if dt is not None else getattr(model, "dt", 1.0))
    # A model may say whether its space wraps (the Wave-RNN's rings do; a dense RNN's units
    # have no order); 4-D states default to a ring.
    periodic = getattr(model, "periodic", None if hidden.ndim == 5 else True)
    run = None if isinstance(run_or_model, torch.nn.Module) else str(Path(run_or_model))
    prov = {"model": type(model).__name__, "run": run, "checkpoint": checkpoint if run else None,
            "split": split if from_split else None}
    da = hidden_to_dataarray(hidden, dt=dt, periodic=periodic, provenance=prov)
    ds = xr.Dataset({"hidden": da})
    inp = np.concatenate(inputs)
    ds["input"] = xr.DataArray(inp, dims=_variable(inp, da.dims, hidden.shape, "input"))
    if labels:
        lab = np.concatenate(labels)
        ds["label"] = xr.DataArray(lab, dims=_variable(lab, da.dims, hidden.shape, "label"))
    ds.attrs = {
        "model": type(model).__name__,
        "train_config": config.to_json() if config is not None else "{}",
        "checkpoint": checkpoint if run else "",
        "run": run or "",
        "dt": dt,
        "source": "model",
        "provenance": json.dumps(prov),
    }
    return ds
