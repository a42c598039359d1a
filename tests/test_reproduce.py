"""scripts/reproduce.py end to end on a tiny budget: runs, table, resume, partial runs."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from wavescope.training.sweeps import expand_sweep

ROOT = Path(__file__).resolve().parents[1]


def _script(name="reproduce"):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tiny_spec(tmp_path: Path, epochs: int = 1) -> Path:
    """The Tetrominoes table's spec at a tiny budget: 4 images of 32x32, 1 epoch."""
    spec = json.loads((ROOT / "configs" / "reproduce_tetrominoes.json").read_text())
    spec["base"].update(task_kwargs={"height": 32, "width": 32, "max_pieces": 2},
                        epochs=epochs, batch_size=4, n_train=4, n_val=4, n_test=4,
                        data_root=str(tmp_path / "data"), out_dir=str(tmp_path / "runs"))
    for v in spec["variants"]:
        if v["model"] != "cnn":
            v["model_kwargs"] = {"steps": 8}
    path = tmp_path / f"tiny{epochs}.json"
    path.write_text(json.dumps(spec))
    return path


def test_every_table_has_its_config_rows_and_three_seeds():
    script = _script()
    for table, meta in script.TABLES.items():
        configs = expand_sweep(ROOT / "configs" / f"reproduce_{table}.json")
        labels = {script.label(c) for c in configs}
        for c in configs:
            assert c.threads == 1 and not c.progress
        for name in labels:
            seeds = {c.seed for c in configs if script.label(c) == name}
            assert len(seeds) >= 3, f"{table}: row {name!r} has seeds {seeds}"
        for o in meta["orderings"]:
            for group in o["groups"]:
                assert set(group) <= labels, f"{table}: ordering names a missing row {group}"
    # the readout table's linear row is the Tetrominoes table's NWM: the same run folders
    tet = {c.run_dir() for c in expand_sweep(ROOT / "configs" / "reproduce_tetrominoes.json")}
    lin = {c.run_dir() for c in expand_sweep(ROOT / "configs" / "reproduce_readouts.json")
           if c.readout == "linear"}
    assert lin and lin <= tet


@pytest.mark.slow
def test_reproduce_runs_a_table_resumes_and_reports_partial_runs(tmp_path):
    script = _script()
    results = tmp_path / "results"
    spec = _tiny_spec(tmp_path)
    args = ["--table", "tetrominoes", "--spec", str(spec), "--results", str(results)]
    record = script.main(args)
    written = json.loads((results / "tetrominoes.json").read_text())
    assert written == json.loads(json.dumps(record))
    assert [r["label"] for r in written["rows"]] == ["NWM, linear", "ConvLSTM, linear", "CNN-8"]
    assert written["complete"] and written["cpu_hours"] > 0
    assert len(written["git"]["commit"] or "") == 40
    for row in written["rows"]:
        assert row["seeds_finished"] == [0, 1, 2] and row["n_params"] > 1000
        assert row["budget"]["epochs"] == 1 and row["budget"]["n_train"] == 4
        per_seed = [r["test_paper_fg_iou"] for r in row["runs"]]
        st = row["metrics"]["test_paper_fg_iou"]
        assert st["n"] == 3 and st["mean"] == pytest.approx(np.mean(per_seed))
        assert st["sd"] == pytest.approx(np.std(per_seed, ddof=1))
        collapsed = [r["test_collapsed"] for r in row["runs"]]
        assert row["collapse_rate"] == pytest.approx(np.mean(collapsed))
        for run in row["runs"]:
            assert run["finished"] and run["epochs_done"] == 1 and run["epochs_planned"] == 1
            assert (Path(run["run"]) / "test_metrics.json").exists()
    (ordering,) = written["orderings"]
    assert ordering["claim"] == "NWM, linear > ConvLSTM, linear > CNN-8"
    assert isinstance(ordering["holds"], bool)
    assert written["kind"] == "reproduce" and written["rows"][0]["paper"] == "0.99 / 0.98"
    # the README's block for the table: every row, its mean ± sd with each seed, the verdict
    block = _script("readme_results").render("tetrominoes", results)
    st = written["rows"][0]["metrics"]["test_paper_fg_iou"]
    seeds = ", ".join(f"{r['test_paper_fg_iou']:.3f}" for r in written["rows"][0]["runs"])
    assert f"{st['mean']:.3f} ± {st['sd']:.3f} ({seeds})" in block
    assert "| CNN-8 |" in block and "3/3" in block and "1/1 epochs" in block
    assert ("**holds**" if ordering["holds"] else "**does not hold**") in block

    # a second call finds the runs finished: nothing is retrained, the numbers are the same
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").rglob("metrics.csv")}
    again = script.main(args)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert [r["metrics"] for r in again["rows"]] == [r["metrics"] for r in written["rows"]]

    # asked for 2 epochs, the same runs are 1 epoch of 2 done: no numbers, how far they got
    partial = script.main(["--table", "tetrominoes", "--spec", str(_tiny_spec(tmp_path, 2)),
                           "--results", str(results), "--collect-only"])
    assert not partial["complete"]
    for row in partial["rows"]:
        assert row["seeds_finished"] == [] and row["metrics"] == {}
        for run in row["runs"]:
            assert not run["finished"] and (run["epochs_done"], run["epochs_planned"]) == (1, 2)
            assert "val_loss" in run["best_val_so_far"]
    assert partial["orderings"][0]["holds"] is None
    text = script.markdown(partial)
    assert "0/3" in text and "1/2 ep" in text and "not measured yet" in text


def test_orderings_with_unsolved_runs():
    script = _script()

    def row(name, mean, n_none=0):
        return {"label": name, "seeds_finished": [0, 1, 2],
                "metrics": {"solved_step": {"n": 3 - n_none, "mean": mean, "n_none": n_none}}}

    rows = [row("adding T=100: wRNN", 300.0), row("adding T=100: iRNN", 2350.0, n_none=2)]
    rows += [row(f"adding T={T}: {m}", 500.0) for T in (400, 1000) for m in ("wRNN", "iRNN")]
    out = script.check_orderings("sequences", rows)
    assert out[0]["holds"] is True  # an unsolved seed counts as the worst
    assert out[1]["holds"] is False  # equal: not better
    assert all(o["holds"] is None for o in out[3:6])  # copy rows missing
