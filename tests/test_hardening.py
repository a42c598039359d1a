"""Hardening (issue 14): no code from files, no writes outside the run, no lost input."""

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

import wavescope as ws
from wavescope import _safeio, cli
from wavescope import io as wio
from wavescope import simulate as sim
from wavescope.training import export_hidden_states
from wavescope.training.config import TrainConfig
from wavescope.training.trainer import CheckpointError, evaluate, load_run, train

sys.path.insert(0, str(Path(__file__).parent / "training"))
from _toy_task import ToyRegression  # noqa: E402, F401  (registers "_toy_regression")


def _config(tmp_path, **kw):
    base = dict(task="_toy_regression", model="linear", epochs=2, batch_size=16, lr=0.05,
                out_dir=str(tmp_path / "runs"), progress=False, seed=1, name="toy")
    base.update(kw)
    return TrainConfig(**base)


class _Payload:
    """Unpickling this touches a marker file: what a crafted checkpoint would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# ----------------------------------------------------------------------------- checkpoints


@pytest.fixture
def toy_run(tmp_path):
    return train(_config(tmp_path))


def test_a_pickled_payload_in_a_checkpoint_never_runs(toy_run, tmp_path, capsys):
    marker = tmp_path / "pwned"
    for name in ("checkpoint_best.pt", "checkpoint_last.pt"):
        saved = torch.load(toy_run / name, weights_only=True)
        saved["extra"] = _Payload(marker)
        torch.save(saved, toy_run / name)
    with pytest.raises(CheckpointError, match="run as code.*trust=True"):
        evaluate(toy_run)
    with pytest.raises(CheckpointError, match="run as code"):
        export_hidden_states(toy_run, n_trials=2)
    with pytest.raises(CheckpointError, match="run as code"):
        load_run(toy_run, checkpoint="last")
    with pytest.raises(CheckpointError, match="run as code"):  # resuming reads the last one
        train(_config(tmp_path, epochs=3))
    assert cli.main(["evaluate", str(toy_run)]) == 1
    assert "run as code" in capsys.readouterr().err
    assert not marker.exists()
    # Only an explicit trust=True unpickles it (and then the payload does run).
    load_run(toy_run, trust=True)
    assert marker.exists()


def test_checkpoints_hold_plain_data_and_resume_exactly(tmp_path):
    full = train(_config(tmp_path, name="full", epochs=3))

    class Stop(Exception):
        pass

    def stop(row):
        if row["step"] >= 4:
            raise Stop

    with pytest.raises(Stop):
        train(_config(tmp_path, name="cut", epochs=3), callback=stop)
    state = torch.load(tmp_path / "runs" / "cut" / "checkpoint_last.pt", weights_only=True)
    assert state["format"] == "wavescope-checkpoint-2" and "meter" in state
    cut = train(_config(tmp_path, name="cut", epochs=3))
    a = [{k: v for k, v in r.items() if k != "time_s"} for r in ws.training.read_metrics(full)]
    b = [{k: v for k, v in r.items() if k != "time_s"} for r in ws.training.read_metrics(cut)]
    assert a == b


def test_an_old_checkpoint_is_refused_for_resume(toy_run, tmp_path):
    last = toy_run / "checkpoint_last.pt"
    state = torch.load(last, weights_only=True)
    del state["format"]
    torch.save(state, last)
    with pytest.raises(CheckpointError, match="older wavescope.*delete"):
        train(_config(tmp_path, epochs=3))


def test_a_truncated_checkpoint_gives_a_clear_error(toy_run, capsys):
    best = toy_run / "checkpoint_best.pt"
    best.write_bytes(best.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="damaged or truncated"):
        evaluate(toy_run)
    assert cli.main(["evaluate", str(toy_run)]) == 1
    err = capsys.readouterr().err
    assert "damaged or truncated" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- run folders


@pytest.mark.parametrize("name", ["../x", "../../x", "/tmp/abs", "a/b", "..", ".", ""])
def test_run_names_cannot_leave_out_dir(tmp_path, name):
    with pytest.raises(ValueError, match="name must be a plain folder name"):
        _config(tmp_path, name=name)


def test_a_readout_with_separators_cannot_leave_out_dir(tmp_path):
    config = _config(tmp_path, name=None, readout="../../../escape")
    with pytest.raises(ValueError, match="plain folder name"):
        config.run_dir()


def test_cli_train_refuses_name_dotdot(tmp_path, capsys):
    code = cli.main(["train", "--task", "_toy_regression", "--model", "linear", "--name",
                     "../x", "--out-dir", str(tmp_path / "runs"), "--no-progress"])
    assert code == 1
    assert "plain folder name" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "runs").exists()


def test_planted_symlinks_at_temporary_names_are_never_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    run_dir = tmp_path / "runs" / "toy"
    run_dir.mkdir(parents=True)
    # The fixed names older versions used, and one that looks like a stale temporary.
    for name in ("config.json.tmp", "metrics.csv.tmp", "checkpoint_last.pt.tmp",
                 f".config.json.{_dead_pid()}.abcdef.tmp"):
        (run_dir / name).symlink_to(victim)
    train(_config(tmp_path))
    assert victim.read_text() == "precious"
    assert not (run_dir / f".config.json.{_dead_pid()}.abcdef.tmp").exists()


def test_safe_write_cleans_up_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "f.txt"
    _safeio.write_text(path, "old")
    with pytest.raises(RuntimeError, match="boom"), _safeio.safe_write(path, "w") as fh:
        fh.write("half")
        raise RuntimeError("boom")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]


def test_safe_write_refuses_a_temporary_swapped_for_a_link(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    path = tmp_path / "out.txt"
    with pytest.raises(OSError, match="was replaced"), _safeio.safe_write(path) as tmp:
        os.unlink(tmp)
        os.symlink(victim, tmp)
    assert victim.read_text() == "precious" and not path.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["victim"]


def test_stale_temporaries_are_removed_by_the_next_write(tmp_path):
    path = tmp_path / "rec.nc"
    dead = tmp_path / f".rec.nc.{_dead_pid()}.k2j3h4.tmp"
    legacy = tmp_path / ".rec.nc.abcd1234.tmp"  # what io.save left before (no PID)
    live = tmp_path / f".rec.nc.{os.getpid()}.zzzzzz.tmp"  # another write of this process
    other = tmp_path / f".other.nc.{_dead_pid()}.aaaaaa.tmp"
    for p in (dead, legacy, live, other):
        p.write_bytes(b"x" * 100)
    old = time.time() - 7200
    os.utime(legacy, (old, old))
    ws.save(sim.plane_wave((3, 3), n_times=10), path)
    assert not dead.exists() and not legacy.exists()
    assert live.exists() and other.exists()  # a running writer's, and another file's


def test_written_files_get_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        paths = [ws.save(sim.plane_wave((3, 3), n_times=10), tmp_path / "a.nc"),
                 _safeio.write_json(tmp_path / "b.json", {"a": 1}),
                 TrainConfig().save(tmp_path / "c.json")]
    finally:
        os.umask(mask)
    for p in paths:
        assert (p.stat().st_mode & 0o777) == 0o644


def test_a_second_training_into_the_same_folder_gets_a_clear_error(tmp_path):
    run_dir = tmp_path / "runs" / "toy"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from wavescope._safeio import run_lock\n"
         "with run_lock(sys.argv[1]):\n    print('locked', flush=True); time.sleep(60)",
         str(run_dir)], stdout=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1])))
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(_safeio.RunLockedError, match=f"in use by another process "
                                                         f"\\(PID {holder.pid}\\)"):
            train(_config(tmp_path))
    finally:
        holder.kill()
        holder.wait()
    assert train(_config(tmp_path)).exists()  # free again once the holder is gone


# ----------------------------------------------------------------------------- config checks


@pytest.mark.parametrize("changes, match", [
    ({"monitor": "nope"}, "monitor 'nope' is not a metric.*choose from \\['loss'\\]"),
    ({"device": "cuda:7"}, "device 'cuda:7' does not exist"),
    ({"device": "banana"}, "device 'banana' is not a torch device"),
    ({"task": "no_such_task"}, "unknown task 'no_such_task'; known tasks: .*tetrominoes"),
])
def test_bad_setups_fail_before_the_run_folder_is_made(tmp_path, changes, match):
    with pytest.raises(ValueError, match=match):
        train(_config(tmp_path, **changes))
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("lr", [float("inf"), float("nan"), -1.0, 0.0])
def test_lr_must_be_finite_and_positive(tmp_path, lr):
    with pytest.raises(ValueError, match="lr must be"):
        _config(tmp_path, lr=lr)


def test_unknown_model_and_model_kwargs_fail_before_writing(tmp_path):
    base = dict(task="polygons", epochs=1, n_train=4, n_val=4, n_test=4,
                out_dir=str(tmp_path / "runs"), progress=False,
                data_root=str(tmp_path / "data"))
    with pytest.raises(ValueError, match="unknown model 'resnet'.*choose from"):
        train(TrainConfig(model="resnet", **base))
    with pytest.raises(ValueError, match="cannot be built with model_kwargs.*bogus"):
        train(TrainConfig(model="cnn", model_kwargs={"bogus": 1}, **base))
    assert not (tmp_path / "runs").exists()


# ----------------------------------------------------------------------------- CLI


@pytest.fixture
def recording(tmp_path):
    return ws.save(sim.plane_wave((8, 8), n_times=60, speed=20.0, seed=0), tmp_path / "a.nc")


def test_detect_refuses_to_overwrite_its_input(recording, tmp_path, capsys):
    before = recording.read_bytes()
    assert cli.main(["detect", str(recording), "-o", str(recording)]) == 2
    assert "would destroy the input" in capsys.readouterr().err
    alias = tmp_path / "sub" / ".." / "a.nc"
    (tmp_path / "sub").mkdir()
    link = tmp_path / "link.nc"
    link.symlink_to(recording)
    for out in (alias, link):
        assert cli.main(["detect", str(recording), "-o", str(out)]) == 2
    assert recording.read_bytes() == before


def test_export_refuses_to_overwrite_a_run_file(toy_run, capsys):
    target = toy_run / "checkpoint_best.pt"
    before = target.read_bytes()
    assert cli.main(["export", str(toy_run), "-o", str(target)]) == 2
    assert target.read_bytes() == before


@pytest.mark.parametrize("argv, code, match", [
    (["--trials", "0"], 2, "expected a positive integer"),
    (["--feature", "-1"], 2, "expected an integer >= 0"),
    (["--feature", "99"], 1, "--feature 99: .* has no 'feature' dim"),
])
def test_detect_argument_errors(recording, capsys, argv, code, match):
    assert cli.main(["detect", str(recording), *argv]) == code
    err = capsys.readouterr().err
    assert __import__("re").search(match, err) and "Traceback" not in err


def test_detect_feature_out_of_range(tmp_path, capsys):
    hidden = sim.plane_wave((6, 6), n_times=40).expand_dims(feature=3, trial=1).transpose(
        "trial", "time", "feature", "y", "x")
    path = ws.save(xr.Dataset({"hidden": hidden}), tmp_path / "h.nc")
    assert cli.main(["detect", str(path), "--feature", "99"]) == 1
    assert "--feature 99 is out of range" in capsys.readouterr().err


def test_cli_train_unknown_names_are_one_line_exit_1(tmp_path, capsys):
    for flags, match, exit_code in (
            (["--task", "nope"], "expected one of", 2),  # a usage error, with the choices
            (["--task", "_toy_regression", "--device", "cuda:9"], "cuda:9", 1),
            (["--task", "_toy_regression", "--lr", "inf"], "lr must be", 1)):
        code = cli.main(["train", *flags, "--out-dir", str(tmp_path / "runs"),
                         "--no-progress"])
        err = capsys.readouterr().err
        assert code == exit_code and match in err and "Traceback" not in err, err
        assert "error:" in err.strip().splitlines()[-1]


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(FileNotFoundError):
        cli.main(["--debug", "info", str(tmp_path / "missing.nc")])


# ----------------------------------------------------------------------------- files


def test_a_flipped_byte_in_saved_data_is_caught(tmp_path):
    values = np.random.default_rng(0).standard_normal((200, 16))
    da = ws.from_array(values, ("time", "x"), sfreq=100.0)
    path = ws.save(da, tmp_path / "r.nc")
    raw = bytearray(path.read_bytes())
    at = raw.find(values.astype("<f8").tobytes()[:64])
    assert at > 0
    raw[at + 800] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(wio.WavescopeIOError, match="checksum"):
        ws.load(path)


def test_loading_more_than_memory_allows_is_refused(tmp_path, monkeypatch):
    da = ws.from_array(np.zeros((2000, 64)), ("time", "x"), sfreq=100.0)
    path = ws.save(da, tmp_path / "big.nc")
    monkeypatch.setenv("WAVESCOPE_MAX_MEMORY", "100kB")
    with pytest.raises(_safeio.MemoryLimitError, match=r"1\.0\d MB.*100 kB.*chunks='auto'"):
        ws.load(path)
    lazy = ws.load(path, chunks="auto")  # the knob the message names works
    assert lazy.sizes["time"] == 2000
    lazy.close()


def test_surrogate_stacks_and_flow_beyond_memory_are_refused_before_allocating(monkeypatch):
    from wavescope.analysis import optical_flow, surrogates, wave_delays

    rng = np.random.default_rng(0)
    z = ws.from_array(np.exp(1j * rng.uniform(-np.pi, np.pi, (50, 8, 8))), ("time", "y", "x"),
                      sfreq=10.0)
    monkeypatch.setenv("WAVESCOPE_MAX_MEMORY", "100kB")
    with pytest.raises(_safeio.MemoryLimitError, match=r"100 phase surrogates.*lower n"):
        surrogates(z, "phase", n=100)
    with pytest.raises(_safeio.MemoryLimitError, match=r"optical-flow.*fewer frames"):
        optical_flow(z)
    monkeypatch.delenv("WAVESCOPE_MAX_MEMORY")
    assert surrogates(z, "phase", n=2).sizes["trial"] == 2  # small stacks still pass
    short = ws.from_array(rng.standard_normal((2, 1, 4)), ("time", "y", "x"), sfreq=1.0)
    with pytest.raises(ws.DataModelError, match="more samples than tapers"):
        wave_delays(short, (0.05, 0.2))
