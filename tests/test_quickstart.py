"""The quickstart pipeline: the whole --small run once, and its building blocks."""

import json
import os
import re
import stat
import subprocess

import numpy as np
import pytest

from wavescope import quickstart as qsm


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("qs")
    summary = qsm.run_quickstart(out, small=True, progress=False, echo=None)
    return out, summary


@pytest.mark.slow
def test_small_run_links_every_file_it_wrote(small_run):
    out, summary = small_run
    text = summary.read_text()
    links = re.findall(r"\]\(([^)]+)\)", text)
    assert links, "the summary links its files"
    for link in links:
        assert (out / link).is_file(), f"summary links a missing file: {link}"
    metrics = json.loads((out / "metrics.json").read_text())
    ran = subprocess.run(["git", "-C", os.path.dirname(qsm.__file__), "rev-parse", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    for name in qsm.STEPS:
        assert name in metrics["steps"]
        if ran:  # each step records the source it ran from (README provenance)
            assert metrics["steps"][name]["git"]["commit"] == ran
        for f in metrics["steps"][name]["files"]:
            assert (out / f).is_file()
            assert f"({f})" in text, f"{f} is not linked from the summary"
    gif = out / "hidden_waves.gif"
    assert gif.read_bytes()[:6] in (b"GIF87a", b"GIF89a")
    for png in (out / "figures").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size < 300_000
    assert not list(out.rglob(".*tmp*")), "no temporary files left behind"
    mode = stat.S_IMODE((out / "summary.md").stat().st_mode)
    assert mode & 0o400 and mode & 0o200


@pytest.mark.slow
def test_small_run_states_real_numbers(small_run):
    out, summary = small_run
    steps = json.loads((out / "metrics.json").read_text())["steps"]
    text = summary.read_text()
    # the known answers are found
    planar = steps["waves"]["results"]["simulated"]["planar"]
    assert planar["share"] > 0.9 and planar["pgd"] > 0.9
    assert planar["speed"] == pytest.approx(50.0, rel=0.05)
    assert planar["direction"] == pytest.approx(np.pi / 4, abs=0.05)
    assert steps["waves"]["results"]["simulated"]["rotating"]["share"] > 0.9
    # the model was trained and scored against the background-only baseline
    train = steps["train"]["results"]
    bg = steps["data"]["results"]["background_accuracy"]
    assert 0.5 < bg < 1 and train["background_accuracy"] == bg
    assert 0 <= train["test"]["pixel_accuracy"] <= 1 and train["n_params"] > 1000
    assert train["test"]["loss"] < np.log(7), "trained: better than guessing 7 classes"
    assert train["epochs"] == qsm.SMALL.epochs
    # waves in the model: local order above a shuffled null; the k-omega ridge with its
    # directionality (whether its power is one-sided in k, i.e. the speed is a travel speed)
    model = steps["waves"]["results"]["model"]
    assert model["local_pgd"] > model["local_pgd_shuffled"]
    assert np.isnan(model["kw_speed"]) or model["kw_speed"] > 0
    assert 0 <= model["kw_directionality"] <= 1
    assert ("directionality" in text) or ("no single phase velocity" in text)
    # decoding: the area is heard from both the drum and the network, beside controls in
    # the same folds: shuffled labels near chance, the input's pixel count gives the area
    table = steps["spectra"]["results"]["decoding"]
    rows = {(r["source"], r["target"], r["decoder"]): r for r in table}
    assert len(rows) == len(table)
    assert rows[("fixed drum", "area", "spectra")]["mean"] > 0.8
    assert rows[("NWM hidden states", "area", "spectra")]["mean"] > 0.5
    assert rows[("input image", "area", "pixel_count")]["mean"] > 0.9
    for source in ("NWM hidden states", "fixed drum"):
        shuffled = rows[(source, "shape", "shuffled")]
        assert abs(shuffled["mean"] - shuffled["chance"]) < 0.15
        assert rows[(source, "area", "shuffled")]["mean"] < 0.2
    for r in rows.values():
        assert r["n"] == qsm.SMALL.n_export
    # the bundled EEG: alpha, and significant wave events with speeds in m/s
    eeg = steps["eeg"]["results"]
    assert 8 < eeg["alpha_peak_hz"] < 12 and eeg["seconds"] == pytest.approx(10.0)
    assert eeg["n_events"] > 0 and sum(eeg["significant"].values()) > 0
    assert eeg["speed_units"] == "m/s" and 0 < eeg["mean_pgd"] < 1
    # the summary states them
    assert f"{train['test']['pixel_accuracy']:.3f}" in text and f"{bg:.3f}" in text
    assert f"{eeg['mean_pgd']:.2f}" in text and "m/s" in text
    assert f"{rows[('fixed drum', 'area', 'spectra')]['mean']:.2f}" in text
    assert text.count("Controls in the same folds") == 4
    count = rows[("input image", "area", "pixel_count")]
    assert f"{count['description']} {count['mean']:.2f}" in text
    # a spectral decoder that a control matches or beats is reported as such
    beaten = sum(any(c["mean"] >= r["mean"] for c in table if c["target"] == r["target"]
                     and c["source"] in (r["source"], "input image")
                     and c["control"] == "non-spectral")
                 for r in table if r["decoder"] == "spectra")
    assert text.count("The spectra do not beat") == beaten
    assert text.count("The spectra beat every non-spectral control") == 4 - beaten
    assert "Not run yet" not in text


@pytest.mark.slow
def test_steps_rerun_alone_and_settings_are_not_mixed(small_run):
    out, _ = small_run
    before = json.loads((out / "metrics.json").read_text())["steps"]["eeg"]["results"]
    qsm.run_quickstart(out, small=True, progress=False, echo=None, steps=["summary"])
    after = json.loads((out / "metrics.json").read_text())["steps"]["eeg"]["results"]
    assert after == before
    with pytest.raises(ValueError, match="other settings"):
        qsm.run_quickstart(out, small=True, seed=1, progress=False, echo=None,
                           steps=["summary"])
    with pytest.raises(ValueError, match="unknown quickstart step"):
        qsm.run_quickstart(out, small=True, progress=False, echo=None, steps=["nope"])


def test_a_step_without_its_inputs_names_the_step_to_run(tmp_path):
    qs = qsm.Quickstart(tmp_path, qsm.SMALL, progress=False)
    with pytest.raises(FileNotFoundError, match="--step export"):
        qsm.step_spectra(qs)


def test_atomic_writers_leave_no_temporary_files(tmp_path):
    from matplotlib.figure import Figure

    p = qsm.write_text(tmp_path / "a" / "x.md", "hello\n")
    assert p.read_text() == "hello\n"
    fig = Figure()
    fig.add_subplot().plot([0, 1])
    png = qsm.save_figure(fig, tmp_path / "f.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert sorted(os.listdir(tmp_path)) == ["a", "f.png"]
    assert os.listdir(tmp_path / "a") == ["x.md"]


@pytest.mark.slow
def test_small_run_report_renders_in_a_browser(small_run, tmp_path):
    from _browser import render

    out, summary = small_run
    page = out / "report.html"
    assert "[report.html](report.html)" in summary.read_text()
    seen = render(page, tmp_path, "quickstart_report.png")
    figures = sorted((out / "figures").glob("*.png"))
    assert figures and seen["images"] >= len(figures) + 1  # the figures and the GIF
    assert seen["loaded"] == seen["images"], "an image of the report does not load"
    assert seen["problems"] == [], seen["problems"]
    for section in ("What was found", "Results of every step", "Decoding and its controls",
                    "Budget", "Figures", "hidden_waves.gif", "Provenance", "Files ("):
        assert section in seen["text"], section
    for f in figures:
        assert f.relative_to(out).as_posix() in seen["text"]
    assert stat.S_IMODE((out / "hidden_waves.gif").stat().st_mode) == \
        stat.S_IMODE((out / "summary.md").stat().st_mode)  # the GIF as readable as the rest


def test_the_helpers_that_moved_out_still_import_from_here():
    from wavescope import drums, plotting
    from wavescope.analysis import hidden, summaries

    assert qsm.centre_on_masks is hidden.centre_on_masks and qsm.SHAPES == hidden.SHAPES
    assert qsm.event_summary is summaries.event_summary
    assert qsm.drum_of_masks is drums.drum_of_masks
    assert qsm.pgd_figure is plotting.pgd_figure
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        qsm.nope  # noqa: B018


def test_the_quickstart_is_a_thin_pipeline():
    import inspect

    assert len(inspect.getsource(qsm).splitlines()) < 300
