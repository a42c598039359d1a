import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import wavescope as ws
from wavescope import cli
from wavescope import simulate as sim


def test_help_and_version(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "info" in out and "quickstart" in out
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"wavescope {ws.__version__}"


def test_no_verb_and_unknown_verb(capsys):
    assert cli.main([]) == 2
    assert "usage: wavescope" in capsys.readouterr().out
    assert cli.main(["frobnicate"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_info_dataarray(tmp_path, capsys):
    da = sim.radial_wave((6, 7), n_times=30, sfreq=250.0, source="recording",
                         space_units="mm").rename("lfp")
    ws.save(da, tmp_path / "r.nc")
    assert cli.main(["info", str(tmp_path / "r.nc")]) == 0
    out = capsys.readouterr().out
    for text in ("DataArray, name 'lfp'", "time=30, y=6, x=7", "dtype: float64",
                 "sampling rate: 250 Hz", "source: recording", "space units: mm",
                 "wavescope.simulate.radial_wave", '"kind": "radial"'):
        assert text in out


def test_info_dataset_and_complex(tmp_path, capsys):
    ds = xr.Dataset({"hidden": sim.plane_wave((3, 3), n_times=12) * 1j,
                     "label": ("trial", np.arange(2))})
    ws.save(ds, tmp_path / "d.nc")
    assert cli.main(["info", str(tmp_path / "d.nc")]) == 0
    out = capsys.readouterr().out
    assert "Dataset with 2 variable(s)" in out and "variable hidden:" in out
    assert "dtype: complex128" in out and "sampling rate: 100 per time unit" in out


@pytest.mark.parametrize("content, match", [(None, "no such file"),
                                            (b"not netcdf", "not netCDF or is damaged")])
def test_info_errors_are_one_line_exit_1(tmp_path, capsys, content, match):
    path = tmp_path / "f.nc"
    if content is not None:
        path.write_bytes(content)
    assert cli.main(["info", str(path)]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("wavescope info: error:") and match in err and str(path) in err
    assert len(err.splitlines()) == 1 and "Traceback" not in captured.err


def test_quickstart_step_simulate_writes_plane_then_rotating(tmp_path, capsys):
    out = tmp_path / "qs"
    assert cli.main(["quickstart", str(out), "--seed", "3", "--step", "simulate",
                     "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "plane wave" in text and "rotating wave (ccw)" in text and str(out) in text
    da = ws.load(out / "simulated.nc")
    assert da.sizes == {"time": 400, "y": 32, "x": 32}
    segs = sim.truth(da)["segments"]
    assert [s["kind"] for s in segs] == ["plane", "rotating"] and segs[0]["seed"] == 3
    ws.validate(da)
    summary = (out / "summary.md").read_text()
    assert "[simulated.nc](simulated.nc)" in summary and "Not run yet: data, train" in summary


def test_quickstart_step_needs_the_earlier_steps(tmp_path, capsys):
    assert cli.main(["quickstart", str(tmp_path), "--step", "waves", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "simulated.nc is missing" in err and "--step simulate" in err


def test_quickstart_refuses_a_file_as_folder(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    assert cli.main(["quickstart", str(target)]) == 1
    assert "not a folder" in capsys.readouterr().err


def test_python_dash_m(tmp_path):
    root = Path(__file__).resolve().parents[1]
    res = subprocess.run([sys.executable, "-m", "wavescope", "--version"], cwd=tmp_path,
                         capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(root)),
                         check=False)
    assert res.returncode == 0 and res.stdout.startswith("wavescope ")


def test_detect_finds_the_simulated_plane_wave(tmp_path, capsys):
    path = ws.save(sim.plane_wave((16, 16), n_times=100, speed=50.0, direction=0.5,
                                  noise=0.05, seed=0), tmp_path / "w.nc")
    out = tmp_path / "events.nc"
    assert cli.main(["detect", str(path), "--band", "3", "7", "--n-surrogates", "19",
                     "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "planar" in text and "speed (pixel/time unit)" in text and "q_value" in text
    ev = ws.load(out)
    assert list(ev["pattern"].values) == ["planar"]
    assert float(ev["speed"][0]) == pytest.approx(50.0, rel=0.05)
    # a wave that fills the recording is a stationary process with these cross-spectra:
    # every multivariate surrogate holds it too, so the default null cannot reject it
    assert float(ev["p_value"][0]) == pytest.approx(1.0)


def test_decode_reads_a_per_trial_label(tmp_path, capsys):
    rng = np.random.default_rng(0)
    t = np.arange(64) / 64.0
    freq = np.repeat([4.0, 9.0], 10)
    x = np.sin(2 * np.pi * freq[:, None, None, None] * t[None, :, None, None])
    x = x + 0.1 * rng.standard_normal((20, 64, 3, 3))
    da = ws.from_array(x, ("trial", "time", "y", "x"), sfreq=64.0, source="model")
    ds = xr.Dataset({"activity": da, "fast": ("trial", (freq > 5).astype(int))})
    path = ws.save(ds, tmp_path / "d.nc")
    assert cli.main(["decode", str(path), "--label", "fast"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("fast from activity spectra: accuracy") and "chance 0.500" in text
    assert float(text.split("accuracy ")[1].split()[0]) >= 0.9
    assert cli.main(["decode", str(path), "--label", "nope"]) == 1
    assert "no variable 'nope'" in capsys.readouterr().err


def test_train_help_lists_every_choice_and_default(capsys):
    from wavescope.training.config import field_choices
    from wavescope.training.models.readouts import HEADS, READOUTS
    from wavescope.training.tasks import TASKS

    assert cli.main(["train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())  # unwrap the help's lines
    choices = field_choices()
    assert set(choices["task"]) == set(TASKS) and "polygons" in choices["task"]
    assert set(choices["readout"]) == set(READOUTS) and set(choices["head"]) == set(HEADS)
    assert {"nwm", "wavernn"} <= set(choices["model"]) and "pixel_accuracy" in choices["monitor"]
    for name in ("task", "model", "readout", "head", "monitor"):
        assert f"Choices: {', '.join(choices[name])}." in text, name
    assert "Present here: cpu" in text
    # every flag has help text and its default
    assert text.count("(default: ") >= 29 and "--threads THREADS torch.set_num_threads" in text
    assert text.rsplit("--threads THREADS", 1)[1].endswith("(default: 1)")
    # a bad choice is a usage error naming the valid values
    assert cli.main(["train", "--readout", "fourier"]) == 2
    assert "expected one of fft, last, linear, max, mean or none" in capsys.readouterr().err


def test_every_flag_of_every_verb_has_help(capsys):
    for verb in ("info", "quickstart", "evaluate", "sweep", "export", "detect", "decode"):
        assert cli.main([verb, "--help"]) == 0
        parser = cli.build_parser()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        for action in sub.choices[verb]._actions:
            assert action.help, f"wavescope {verb} {action.option_strings or action.dest}"
    text = " ".join(capsys.readouterr().out.split())
    assert "--split {train,val,test} data split to export (default: test)" in text
    assert "weights to use: best" in text
