"""Every results table of the README is generated from a file a command wrote
(scripts/readme_results.py); this fails when a README number differs from its file."""

import importlib.util
import json
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script(path="scripts/readme_results.py"):
    spec = importlib.util.spec_from_file_location(Path(path).stem, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_results_blocks_match_their_files():
    rr = _script()
    text = (ROOT / "README.md").read_text()
    names = rr.blocks(text)
    assert {"quickstart", "tetrominoes", "wavernn", "fashion_mnist", "bench_nwm",
            "bench_wavernn"} <= set(names)
    assert len(names) == len(set(names)), "a results block appears twice"
    new = rr.regenerate(text)
    assert new == text, ("README results tables differ from docs/results/*.json; run "
                         "`python scripts/readme_results.py` (or rerun the command that "
                         "writes the file)")
    # every file there is shown, and every table names its command and commit
    for path in (ROOT / "docs" / "results").glob("*.json"):
        assert path.stem in names, f"{path} is not shown in the README"
    for name in names:
        block = rr.render(name)
        assert "command: `" in block and re.search(r"commit [0-9a-f]{7}", block), name


def test_a_changed_readme_number_is_caught(tmp_path):
    rr = _script()
    readme = tmp_path / "README.md"
    text = (ROOT / "README.md").read_text()
    pix = json.loads((ROOT / "docs" / "results" / "quickstart.json").read_text())[
        "steps"]["train"]["results"]["test"]["pixel_accuracy"]
    block = next(m for m in rr.BLOCK.finditer(text) if m.group("name") == "quickstart")
    shown = f"**{pix:.3f}**"
    assert shown in block.group("body")
    edited = block.group("body").replace(shown, f"**{pix + 0.01:.3f}**", 1)
    readme.write_text(text[:block.start("body")] + edited + text[block.end("body"):])
    assert rr.main(["--check", "--readme", str(readme)]) == 1
    assert rr.main(["--readme", str(readme)]) == 0  # regenerating repairs it
    assert readme.read_text() == text


def test_quickstart_copy_and_render_from_a_metrics_file(tmp_path):
    """The quickstart block states the numbers of the metrics.json it was copied from,
    with each spectral decoder's controls and a verdict where a control matches it."""
    rr = _script()
    out = tmp_path / "qs"
    out.mkdir()
    def row(source, decoder, description, control, mean):
        return {"source": source, "target": "shape", "decoder": decoder,
                "description": description, "control": control, "scoring": "accuracy",
                "mean": mean, "std": 0.05, "chance": 0.2, "n": 120, "folds": 5}

    rows = [row("NWM hidden states", "spectra", "log spectrum relative to its peak",
                "decoder", 0.3211),
            row("NWM hidden states", "shuffled", "shuffled labels", "chance", 0.19),
            row("input image", "input_fft2", "input |FFT2|", "non-spectral", 0.41)]
    metrics = {"budget": {"n_train": 3000}, "seed": 0, "steps": {
        "train": {"results": {"test": {"pixel_accuracy": 0.8594, "fg_accuracy": 0.2,
                                       "miou": 0.2}, "epochs": 4, "n_params": 16817,
                              "background_accuracy": 0.822}, "seconds": 150.4},
        "waves": {"results": {"simulated": {}, "model": {"kw_speed": 1.2222,
                                                          "kw_directionality": 0.03}},
                  "seconds": 60},
        "spectra": {"results": {"decoding": rows}, "seconds": 30},
        "eeg": {"results": {}, "seconds": 9.6}}}
    (out / "metrics.json").write_text(json.dumps(metrics))
    results = tmp_path / "results"
    path = rr.copy_quickstart(out, results)
    assert json.loads(path.read_text())["steps"] == metrics["steps"]
    block = rr.render("quickstart", results)
    assert "**0.859**" in block
    # power symmetric in k: a phase velocity, not called a travel speed
    assert "phase velocity 1.22 pixel per unit time, directionality 0.03" in block
    assert "**no travel speed**" in block
    assert "NWM **0.32** ± 0.05" in block
    assert "4.2 min over the steps, of which training 150 s" in block  # 250 s in all
    assert "input \\|FFT2\\| 0.41" in block and "**the spectra do not beat** input" in block
    # the commit shown is the one the steps ran from, not this checkout's
    ran = {"commit": "abcdef1" + "0" * 33, "dirty": False}
    for step in metrics["steps"].values():
        step["git"] = ran
    (out / "metrics.json").write_text(json.dumps(metrics))
    rr.copy_quickstart(out, results)
    assert "commit abcdef1;" in rr.render("quickstart", results)
    metrics["steps"]["eeg"]["git"] = {"commit": "1" * 40, "dirty": False}
    (out / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(ValueError, match="different commits"):
        rr.copy_quickstart(out, results)
    with pytest.raises(ValueError, match="lacks the steps"):
        (out / "metrics.json").write_text(json.dumps({"steps": {}}))
        rr.copy_quickstart(out, results)


def test_a_benchmark_writes_the_table_the_readme_shows(tmp_path):
    """bench_wavernn (a tiny LSTM case, no seed code needed) writes its JSON, and the
    rendered block states that file's medians, ranges and ratios against the goals."""
    bench = _script("benchmarks/bench_wavernn.py")
    results = tmp_path / "results"
    bench.main(["--cases", "lstm-128", "--steps", "4", "--hidden", "8", "--rounds", "1",
                "--repeat", "1", "--json", str(results / "bench_wavernn.json")])
    record = json.loads((results / "bench_wavernn.json").read_text())
    assert record["kind"] == "bench" and record["rounds"] == 1
    assert "bench_wavernn.py --cases lstm-128" in record["command"]
    row = record["rows"][0]
    assert row["label"] == "LSTM 8, MLP readout, batch 128"
    assert row["max_abs_output_diff"] == 0.0  # torch's own layer on both sides
    ratio = row["time_ratio"]
    assert ratio["min"] <= ratio["median"] <= ratio["max"]
    rr = _script()
    block = rr.render("bench_wavernn", results)
    ref = {k: rr._sec(v) for k, v in row["reference"]["seconds"].items()}
    assert f"torch.nn.LSTM: {ref['median']} s ({ref['min']}–{ref['max']})" in block
    met = "met" if ratio["median"] <= 1 else "missed"
    assert f"{ratio['median']:.2f}×" in block and f"(≤ 1: {met})" in block
    assert "1 alternating round of" in block and "command: `" in block


def test_the_readme_shows_the_training_example_that_was_timed():
    """The README's training command is rendered from the file its timing wrote, so the
    command shown is the one measured; /usr/bin/time's report is read in seconds."""
    rr, te = _script(), _script("scripts/time_train_example.py")
    record = json.loads((ROOT / "docs" / "results" / "train_example.json").read_text())
    assert record["example"] == te.command_line()
    block = rr.render("train_example")
    shown = block.split("```bash\n")[1].split("\n```")[0].replace(" \\\n   ", "")
    assert shlex.split(shown) == ["wavescope", *te.ARGS]
    report = ("\tUser time (seconds): 124.00\n\tSystem time (seconds): 6.58\n"
              "\tElapsed (wall clock) time (h:mm:ss or m:ss): 1:02:15.32\n"
              "\tMaximum resident set size (kbytes): 1048576\n")
    assert te._gnu_time(report) == pytest.approx(
        {"wall_s": 3735.32, "cpu_s": 130.58, "peak_gib": 1.0})
