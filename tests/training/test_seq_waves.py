"""Trained sequence models, exported and analysed: the wRNN's states travel at 1 unit/step."""

import numpy as np
import pytest
import torch

from wavescope.analysis.spectral import kw_speed
from wavescope.core import validate
from wavescope.training.config import TrainConfig
from wavescope.training.export import export_hidden_states
from wavescope.training.trainer import train


def _trained_run(tmp_path, model, kwargs):
    torch.manual_seed(0)
    cfg = TrainConfig(task="adding", model=model, model_kwargs=kwargs, task_kwargs={"T": 32},
                      batch_size=32, lr=1e-3, max_steps=30, n_train=32 * 30, n_val=32,
                      n_test=32, out_dir=str(tmp_path), progress=False)
    return train(cfg)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("waves")
    return {
        "wavernn": _trained_run(tmp, "wavernn", {"n": 16, "channels": 2}),
        "irnn": _trained_run(tmp, "irnn", {"hidden": 32}),
    }


def test_exported_wavernn_states_are_rings_in_the_data_model(runs):
    ds = export_hidden_states(runs["wavernn"], n_trials=8)
    hidden = validate(ds["hidden"])
    assert hidden.dims == ("trial", "time", "feature", "x")
    assert hidden.shape == (8, 32, 2, 16)
    assert hidden.attrs["periodic"] == 1 and hidden.attrs["time_units"] == "time unit"
    np.testing.assert_array_equal(hidden["x"].values, np.arange(16))
    assert ds["input"].dims == ("trial", "time", "input_channel")


def test_trained_wavernn_makes_waves_at_one_unit_per_step(runs):
    hidden = export_hidden_states(runs["wavernn"], n_trials=16)["hidden"]
    speed = kw_speed(hidden, method="ridge")["speed"].values
    assert np.nanmedian(speed) == pytest.approx(1.0, abs=0.1)
    # The same check without the spectrum: one step later, the pattern sits one unit on.
    h = hidden.values
    shifted = np.roll(h[:, :-1], 1, axis=-1)
    corr = np.corrcoef(shifted.ravel(), h[:, 1:].ravel())[0, 1]
    still = np.corrcoef(h[:, :-1].ravel(), h[:, 1:].ravel())[0, 1]
    assert corr > 0.9 and corr > still


def test_trained_irnn_makes_no_waves(runs):
    hidden = export_hidden_states(runs["irnn"], n_trials=16)["hidden"]
    assert hidden.attrs["periodic"] == 0  # a dense network's units have no ring order
    speed = kw_speed(hidden, method="ridge")["speed"].values
    assert abs(np.nanmedian(speed)) < 0.2
