"""The reproduction scripts under scripts/ run end to end on tiny budgets."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from wavescope.training import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tiny_nwm_run(tmp_path: Path) -> Path:
    """A one-epoch NWM run on four 32x32 Tetrominoes images, 40 roll-out steps."""
    return train(TrainConfig(
        task="tetrominoes", model="nwm", model_kwargs={"steps": 40},
        task_kwargs={"height": 32, "width": 32, "max_pieces": 2},
        epochs=1, batch_size=4, n_train=4, n_val=4, n_test=4,
        data_root=str(tmp_path / "data"), out_dir=str(tmp_path / "runs"), progress=False))


@pytest.mark.parametrize("untrained", [False, True])
def test_analyse_nwm_waves_writes_its_table(tmp_path, monkeypatch, untrained):
    run = _tiny_nwm_run(tmp_path)
    script = _script("analyse_nwm_waves")
    argv = ["analyse_nwm_waves.py", str(run), "--n-trials", "3", "--tile", "8",
            "--out", str(tmp_path / "states.nc")] + (["--untrained"] if untrained else [])
    monkeypatch.setattr(sys, "argv", argv)
    script.main()
    result = json.loads((run / ("waves_untrained.json" if untrained else "waves.json"))
                        .read_text())
    assert result["n_trials"] == 3 and result["frames"] == 30  # 40 steps, 10 skipped
    assert 0.0 <= result["pgd_shuffled_mean"] <= 1.0 and 0.0 <= result["pgd_mean"] <= 1.0
    assert len(result["pgd_by_feature"]) == 2
    for key in ("omega_objects_median", "alpha_background_median"):
        assert result[key] >= 0.0  # the encoders end in a ReLU
    if untrained:  # a fresh coupling is the Laplacian itself
        assert result["coupling_scale"] == pytest.approx(1.0)
    assert 0.0 <= result["oscillating_objects"] <= 1.0
    assert (tmp_path / "states.nc").exists()


def test_analyse_nwm_waves_tells_where_the_field_oscillates(tmp_path):
    """Pixels that ring inside the labelled objects and drift monotonically outside them
    are counted as oscillating in the objects only."""
    script = _script("analyse_nwm_waves")
    ds, _ = script.hidden_states(_tiny_nwm_run(tmp_path), 3, None)
    t = np.arange(ds.sizes["time"], dtype=float)[None, :, None, None, None]
    inside = (ds["label"].values > 0)[:, None, None]
    assert inside.any() and not inside.all()
    ringing = np.sin(0.7 * t) + np.zeros(ds["hidden"].shape)
    drifting = 0.01 * t + np.zeros(ds["hidden"].shape)
    ds["hidden"].values[:] = np.where(inside, ringing, drifting)
    result = script.analyse(ds, skip=10, tile=8)
    assert result["oscillating_objects"] == 1.0
    assert result["oscillating_background"] == 0.0
    assert result["oscillating_fraction"] == pytest.approx(inside.mean())
