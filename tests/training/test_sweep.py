import pandas as pd
import pytest
from _toy_task import ToyRegression  # noqa: F401  (registers the task "_toy_regression")

from wavescope.training.sweeps import expand_sweep, summarize, sweep


def _spec(tmp_path):
    return {"base": {"task": "_toy_regression", "model": "linear", "epochs": 2,
                     "batch_size": 16, "lr": 0.05, "out_dir": str(tmp_path / "runs"),
                     "progress": False},
            "variants": [{"lr": 0.05}, {"lr": 0.01, "model_kwargs": {"tag": 1}}],
            "grid": {"seed": [0, 1]}}


def test_expand_crosses_variants_and_grid(tmp_path):
    configs = expand_sweep(_spec(tmp_path))
    assert [(c.lr, c.seed) for c in configs] == [(0.05, 0), (0.05, 1), (0.01, 0), (0.01, 1)]
    with pytest.raises(ValueError, match="unknown sweep keys"):
        expand_sweep({"base": {}, "gird": {}})
    with pytest.raises(ValueError, match="share a run folder"):
        expand_sweep({"base": {"name": "fixed"}, "grid": {"seed": [0, 1]}})


def test_sweep_runs_and_gathers_one_table(tmp_path):
    table = sweep(_spec(tmp_path), n_jobs=1)
    assert len(table) == 4 and {"test_loss", "val_loss", "best_epoch"} <= set(table)
    assert (tmp_path / "runs" / "results.csv").exists()
    summary = pd.read_csv(tmp_path / "runs" / "summary.csv")
    assert list(summary["n_runs"]) == [2, 2]
    # a second call finds every run finished and gives the same table
    again = sweep(_spec(tmp_path), n_jobs=1, backend="threading")
    pd.testing.assert_frame_equal(again.drop(columns="time_s"), table.drop(columns="time_s"))


def test_summarize_collapse_rate():
    table = pd.DataFrame({"task": ["t"] * 3, "model": ["m"] * 3, "seed": [0, 1, 2],
                          "test_fg_accuracy": [0.9, 0.0, 0.6],
                          "test_collapsed": [0.0, 1.0, 0.0]})
    out = summarize(table)
    assert out["n_runs"].item() == 3
    assert out["collapse_rate"].item() == pytest.approx(1 / 3)
    assert out["test_fg_accuracy_mean"].item() == pytest.approx(0.5)


def _spec8(root):
    spec = _spec(root)
    spec["base"]["epochs"] = 1
    spec["grid"] = {"seed": [0, 1, 2, 3]}
    return spec


def _same_results(a, b):
    """results.csv of two sweeps, equal apart from their run folders and wall times."""
    a, b = (pd.read_csv(p / "runs" / "results.csv").drop(columns=["run", "time_s"])
            for p in (a, b))
    pd.testing.assert_frame_equal(a, b, check_exact=True)


@pytest.fixture
def toy_by_value():
    """Ship the toy task's module by value, as a user does with a task workers cannot import."""
    import _toy_task
    import cloudpickle

    cloudpickle.register_pickle_by_value(_toy_task)
    yield
    cloudpickle.unregister_pickle_by_value(_toy_task)


@pytest.mark.slow
def test_dask_local_cluster_gives_the_local_results(tmp_path, toy_by_value):
    pytest.importorskip("dask.distributed")
    local, dask = tmp_path / "local", tmp_path / "dask"
    table = sweep(_spec8(local), n_jobs=1)
    assert len(table) == 8
    # two single-threaded worker processes, started and closed by the sweep
    sweep(_spec8(dask), n_jobs=2, backend="dask")
    _same_results(local, dask)


@pytest.mark.slow
def test_submitit_job_array_with_the_local_executor(tmp_path, toy_by_value):
    pytest.importorskip("submitit")
    spec = _spec(tmp_path / "local")
    spec["base"]["epochs"] = 1
    spec["variants"] = spec["variants"][:1]
    sweep(spec, n_jobs=1)
    spec["base"]["out_dir"] = str(tmp_path / "slurm" / "runs")
    sweep(spec, backend="submitit", executor={"cluster": "local", "timeout_min": 5})
    _same_results(tmp_path / "local", tmp_path / "slurm")
    # one array of two jobs, each with its submitit log
    assert len(list((tmp_path / "slurm" / "runs" / "submitit").glob("*_result.pkl"))) == 2


def test_backend_options_are_checked(tmp_path):
    with pytest.raises(ValueError, match="needs backend='dask'"):
        sweep(_spec(tmp_path), scheduler="tcp://localhost:1")
    with pytest.raises(ValueError, match="need backend='submitit'"):
        sweep(_spec(tmp_path), backend="dask", executor={"cluster": "local"})


def test_cli_passes_backend_options(tmp_path, capsys):
    import json

    from wavescope.cli import main

    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(_spec(tmp_path)))
    assert main(["sweep", str(spec), "--executor", "timeout_min"]) == 1
    assert "KEY=VALUE" in capsys.readouterr().err
    # options are parsed (JSON values) and reach the sweep, which names the missing backend
    assert main(["sweep", str(spec), "--executor", "timeout_min=5"]) == 1
    assert "need backend='submitit'" in capsys.readouterr().err
    assert main(["sweep", str(spec), "--scheduler", "tcp://localhost:1"]) == 1
    assert "needs backend='dask'" in capsys.readouterr().err
