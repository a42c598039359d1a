"""The HTML report (mne.Report) of output folders, checked as text and in a real browser."""

import base64
import json
import re

import numpy as np
import pytest
from _browser import render
from matplotlib.figure import Figure
from PIL import Image

from wavescope import cli
from wavescope.report import make_report
from wavescope.training import TrainConfig


def _png(path, value):
    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot([0, 1], [0, value])
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


@pytest.fixture
def quickstart_like(tmp_path):
    """A folder shaped like a quickstart output: metrics.json, two figures, a GIF."""
    out = tmp_path / "out"
    _png(out / "figures" / "a.png", 1.0)
    _png(out / "figures" / "b.png", 2.0)
    frames = [Image.fromarray(np.full((64, 96), v, np.uint8)) for v in (0, 128, 255)]
    frames[0].save(out / "waves.gif", save_all=True, append_images=frames[1:])
    (out / "data").mkdir()
    (out / "data" / "x.csv").write_text("a,b\n1,2\n")
    steps = {"train": {"seconds": 12.345, "files": ["data/x.csv"],
                       "lines": ["NWM pixel accuracy **0.857** (`4 epochs`)"],
                       "results": {"test": {"pixel_accuracy": np.float64(0.857142857).item()},
                                   "n_params": 16817}},
             "spectra": {"seconds": 3.0, "files": [], "lines": [],
                         "results": {"decoding": [{"source": "drum", "mean": 0.91234}]}}}
    (out / "metrics.json").write_text(json.dumps(
        {"steps": steps, "budget": {"epochs": 4, "lr": 0.001}, "seed": 3,
         "wavescope": "0.test"}))
    (out / ".lock").write_text("")  # not an output: not linked
    return out


def test_report_of_a_quickstart_folder_has_every_part(quickstart_like):
    path = make_report(quickstart_like)
    assert path == quickstart_like / "report.html"
    text = path.read_text()
    for title in ("What was found", "Results of every step", "Decoding and its controls",
                  "Budget", "Provenance", "Files (5)", "figures/a.png", "waves.gif"):
        assert title in text, title
    assert "<b>0.857</b>" in text and "<code>4 epochs</code>" in text
    # numbers as plain floats, counts exact, the step's time beside its results
    assert "<td>test.pixel_accuracy</td><td>0.8571</td><td>12.35</td>" in text
    assert "<td>n_params</td><td>16817</td>" in text and "<td>0.9123</td>" in text
    assert "wavescope quickstart OUT --seed 3" in text
    # images embedded (the page works alone), every file linked relative to the folder
    for rel in ("figures/a.png", "figures/b.png", "waves.gif"):
        data = base64.b64encode((quickstart_like / rel).read_bytes()).decode()
        assert f'alt="{rel}"' in text and data in text, rel
    for rel in ("figures/a.png", "figures/b.png", "waves.gif", "data/x.csv", "metrics.json"):
        assert f'href="{rel}"' in text
    assert 'href=".lock"' not in text and not list(quickstart_like.glob(".report*"))


def test_report_of_a_training_run_shows_scores_curves_and_config(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    TrainConfig(task="polygons", epochs=2).save(run / "config.json")
    (run / "metrics.csv").write_text(
        "epoch,step,train_loss,train_pixel_accuracy,val_loss,val_pixel_accuracy\n"
        "1.0,10,1.5,0.7,1.4,0.75\n2.0,20,1.0,0.8,0.9,0.85\n")
    (run / "test_metrics.json").write_text(json.dumps({"pixel_accuracy": 0.8512345}))
    assert cli.main(["report", str(run)]) == 0
    text = (run / "report.html").read_text()
    for title in ("Test scores", "Metrics per evaluation", "Training curves", "Budget",
                  "wavescope train --config", "Files (3)"):
        assert title in text, title
    assert "<td>pixel_accuracy</td><td>0.8512</td>" in text
    assert "<td>task</td><td>polygons</td>" in text and "<td>epochs</td><td>2</td>" in text
    assert len(re.findall(r'<img class="figure-img[^>]*alt="Training curves"', text)) == 1


def test_report_refuses_what_is_not_a_folder(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        make_report(tmp_path / "nope")
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError, match="is not a folder"):
        make_report(tmp_path / "f")
    assert cli.main(["report", str(tmp_path / "nope")]) == 1
    assert "nope does not exist" in capsys.readouterr().err


def check_in_browser(page, tmp_path, sections, screenshot="report.png"):
    """Render ``page`` in headless Chromium: every image loads, no error, the sections."""
    seen = render(page, tmp_path, screenshot)
    n_img = len(re.findall(r"<img\b", page.read_text()))
    assert seen["images"] >= n_img > 0
    assert seen["loaded"] == seen["images"], f"{seen['images'] - seen['loaded']} images broken"
    assert seen["problems"] == [], seen["problems"]
    for section in sections:
        assert section in seen["text"], f"section {section!r} not shown"
    return seen


def test_report_renders_in_chromium(quickstart_like, tmp_path):
    seen = check_in_browser(make_report(quickstart_like), tmp_path,
                            ("What was found", "Results of every step", "Budget",
                             "Provenance", "Files (5)"))
    assert seen["images"] >= 3 and seen["screenshot"].stat().st_size > 5000


def test_the_browser_check_sees_broken_images_and_errors(tmp_path):
    page = tmp_path / "bad.html"
    _png(tmp_path / "ok.png", 1.0)
    page.write_text('<html><head><title>t</title></head><body><h1>Fine part</h1>'
                    '<img src="ok.png"><img src="missing.png">'
                    '<script>console.error("said no"); throw new Error("boom");</script>'
                    "</body></html>")
    seen = render(page, tmp_path, "bad.png")
    assert seen["images"] == 2 and seen["loaded"] == 1
    problems = " ".join(seen["problems"])
    assert "missing.png" in problems and "boom" in problems and "said no" in problems
    assert "Fine part" in seen["text"]
