"""Every results table of the README is generated from a file a command wrote
(scripts/readme_results.py); this fails when a README number differs from its file."""

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("readme_results",
                                                  ROOT / "scripts" / "readme_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_results_blocks_match_their_files():
    rr = _script()
    text = (ROOT / "README.md").read_text()
    names = rr.blocks(text)
    assert {"quickstart", "tetrominoes", "wavernn", "fashion_mnist"} <= set(names)
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
                              "background_accuracy": 0.822}},
        "waves": {"results": {"simulated": {}, "model": {"kw_speed": 1.2222}}},
        "spectra": {"results": {"decoding": rows}}, "eeg": {"results": {}}}}
    (out / "metrics.json").write_text(json.dumps(metrics))
    results = tmp_path / "results"
    path = rr.copy_quickstart(out, results)
    assert json.loads(path.read_text())["steps"] == metrics["steps"]
    block = rr.render("quickstart", results)
    assert "**0.859**" in block and "**1.22** pixel per unit time" in block
    assert "NWM **0.32** ± 0.05" in block
    assert "input \\|FFT2\\| 0.41" in block and "**the spectra do not beat** input" in block
    with pytest.raises(ValueError, match="lacks the steps"):
        (out / "metrics.json").write_text(json.dumps({"steps": {}}))
        rr.copy_quickstart(out, results)
