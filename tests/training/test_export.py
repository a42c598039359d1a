import json

import numpy as np
import pytest
import torch

import wavescope as ws
from wavescope.training.config import TrainConfig
from wavescope.training.export import export_hidden_states, hidden_to_dataarray
from wavescope.training.models import NeuralWaveMachine
from wavescope.training.trainer import train


def test_export_model_in_memory():
    torch.manual_seed(0)
    model = NeuralWaveMachine(3, 2, 6, steps=6, dt=0.1).train()
    x = torch.rand(5, 3, 8, 10)
    y = torch.randint(0, 6, (5, 8, 10))
    ds = export_hidden_states(model, (x, y), batch_size=2, n_trials=4)
    hidden = ds["hidden"]
    assert hidden.dims == ("trial", "time", "feature", "y", "x")
    assert hidden.shape == (4, 6, 2, 8, 10)
    np.testing.assert_allclose(hidden["time"].values, 0.1 * np.arange(1, 7))
    assert hidden.attrs["sfreq"] == pytest.approx(10.0)
    assert hidden.attrs["time_units"] == "time unit" and hidden.attrs["source"] == "model"
    assert hidden.attrs["space_units"] == "pixel" and hidden.attrs["periodic"] == 1
    assert hidden.attrs["dt"] == pytest.approx(0.1)  # beside time_units: the step in them
    ws.validate(hidden)
    with torch.no_grad():
        expected = model(x[:4], return_hidden=True)[1].numpy()
    np.testing.assert_allclose(hidden.values, expected)
    assert ds["input"].dims == ("trial", "input_channel", "y", "x")
    assert ds["label"].dims == ("trial", "y", "x")
    np.testing.assert_array_equal(ds["label"].values, y[:4].numpy())
    assert ds.attrs["model"] == "NeuralWaveMachine" and ds.attrs["dt"] == pytest.approx(0.1)
    assert model.training  # the caller's model is left in the mode it came in


def test_ring_states_are_periodic_lines():
    da = hidden_to_dataarray(np.zeros((2, 5, 3, 7)), dt=1.0)
    assert da.dims == ("trial", "time", "feature", "x") and da.attrs["periodic"] == 1
    np.testing.assert_allclose(da["time"].values, np.arange(1, 6))
    with pytest.raises(ValueError, match="hidden states"):
        hidden_to_dataarray(np.zeros((2, 5)))


def test_export_from_run_round_trips_through_netcdf(tmp_path):
    config = TrainConfig(task="tetrominoes", model="nwm", model_kwargs={"steps": 4},
                         task_kwargs={"height": 24, "width": 28, "max_pieces": 2},
                         epochs=1, batch_size=4, n_train=4, n_val=4, n_test=3,
                         data_root=str(tmp_path / "data"), out_dir=str(tmp_path / "runs"),
                         progress=False)
    run = train(config)
    ds = export_hidden_states(run, split="test")
    assert ds["hidden"].shape == (3, 4, 2, 24, 28)
    assert json.loads(ds.attrs["train_config"])["task"] == "tetrominoes"
    path = ws.save(ds, tmp_path / "states.nc")
    back = ws.load(path)
    np.testing.assert_allclose(back["hidden"].values, ds["hidden"].values)
    ws.validate(back["hidden"])
    assert back["hidden"].attrs["sfreq"] == pytest.approx(10.0)
    # the command line does the same
    from wavescope.cli import main

    assert main(["export", str(run), "-o", str(tmp_path / "cli.nc"), "--n-trials", "2"]) == 0
    assert ws.load(tmp_path / "cli.nc")["hidden"].sizes["trial"] == 2
    with pytest.raises(ValueError, match="give `data`"):
        export_hidden_states(NeuralWaveMachine(3, 2, 6, steps=2))


def test_exported_free_waves_travel_at_one_pixel_per_unit_time():
    # Model -> export -> analysis: with omega = alpha = 0 and small amplitude the NWM field
    # is the wave equation with c = 1 pixel per unit time; the k-omega ridge finds it.
    from wavescope import analysis
    from wavescope.training.models.nwm import laplacian_kernel, wave_rollout

    yy, xx = np.mgrid[0:48, 0:48]
    bump = 1e-2 * np.exp(-((yy - 24) ** 2 + (xx - 24) ** 2) / 8.0)
    y0 = torch.tensor(bump, dtype=torch.float32)[None, None]
    zero = torch.zeros_like(y0)
    seq = wave_rollout(y0, zero, zero, laplacian_kernel(1), steps=200, dt=0.1)
    da = hidden_to_dataarray(seq.numpy(), dt=0.1)
    assert da.attrs["periodic"] == 0  # a grid defaults to non-periodic ...
    da = hidden_to_dataarray(seq.numpy(), dt=0.1, periodic=True)  # ... the NWM's is a torus
    speed = analysis.kw_speed(da - da.mean("time"), method="ridge")["speed"].item()
    assert speed == pytest.approx(1.0, abs=0.1)
