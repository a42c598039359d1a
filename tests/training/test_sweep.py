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
