"""The quickstart's figures show what the summary says: each is built from a small
synthetic polygon export (waves of known frequency radiating from each polygon) or a
slice of the bundled EEG, then its axes, title, legend and colour bar are read back."""

import os
import stat

import numpy as np
import pytest
import xarray as xr
from PIL import Image

import wavescope as ws
from wavescope import plotting as wp
from wavescope.analysis import hidden
from wavescope.analysis.spectral import kw_speed
from wavescope.plotting import style

SIDE, STEPS, SFREQ = 16, 40, 5.0  # 40 samples at 5 per time unit: 8 units, resolution 1/8
FREQ = {cls: 0.5 + 0.05 * cls for cls in range(1, 7)}  # cycles/time unit, one per shape
CLEAREST = 4  # the trial given the highest PGD


def polygon_export() -> xr.Dataset:
    """12 trials, two of each shape: an outward wave (wavelength 6 pixels) from a block
    labelled with the shape's class, at the class's frequency, plus a common mode."""
    t = np.arange(STEPS) / SFREQ
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    labels = np.zeros((12, SIDE, SIDE), np.uint8)
    states = np.empty((12, STEPS, 2, SIDE, SIDE))
    for i in range(12):
        cls, cy, cx = i % 6 + 1, 5 + (i % 3) * 3, 6 + (i % 2) * 4
        labels[i, cy - 2:cy + 3, cx - 2:cx + 3] = cls
        r = np.hypot(yy - cy, xx - cx)
        wave = np.cos(2 * np.pi * (FREQ[cls] * t[:, None, None] - r / 6.0))
        common = 0.3 * np.cos(2 * np.pi * FREQ[cls] * t)[:, None, None]
        states[i, :, 0] = wave + common
        states[i, :, 1] = 0.5 * wave
    da = ws.from_array(states, ("trial", "time", "feature", "y", "x"), sfreq=SFREQ,
                       time_units="time unit", space_units="pixel", source="model", periodic=True)
    return hidden.with_shape_labels(xr.Dataset({"hidden": da, "label": (("trial", "y", "x"),
                                                                       labels)}))


DECODING = [{"source": s, "target": t, "decoder": d, "description": d, "mean": m, "std": sd,
             "chance": 0.17, "scoring": "accuracy" if t == "shape" else "r2"}
            for s, t, d, m, sd in (("NWM hidden states", "shape", "spectra", 0.5, 0.1),
                                   ("NWM hidden states", "shape", "shuffled", 0.15, 0.05),
                                   ("fixed drum", "area", "spectra", 0.97, 0.06),
                                   ("input image", "area", "pixel_count", -0.2, 0.1))]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    ds = polygon_export()
    pgd = np.full((12, STEPS), 0.2)
    pgd[CLEAREST] = 0.6
    pgd[CLEAREST, 10] = 0.9
    events = xr.Dataset({"frame_pgd": (("trial", "time"), pgd)})
    gif = tmp_path_factory.mktemp("gif") / "hidden_waves.gif"
    old = os.umask(0o022)  # the usual umask: every output is then 0o644
    try:
        figs = wp.polygon_run_figures(ds, events, hidden.shape_spectra(ds), decoding=DECODING,
                                      drum_steps=30, kw_speed=1.7, gif=gif)
    finally:
        os.umask(old)
    return ds, figs


def legend_texts(fig):
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    return [t.get_text() for lg in legends for t in lg.get_texts()]


def colorbar_label(fig):
    return fig.axes[-1].get_ylabel()


def assert_legends_outside_the_data(fig):
    """No legend covers a data panel (colour bars aside)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    assert legends, "the figure has a legend"
    for lg in legends:
        box = lg.get_window_extent(renderer)
        for ax in panels:
            assert not box.overlaps(ax.get_window_extent(renderer)), lg


def test_hidden_phase_flow_names_the_trial_and_every_marker(run):
    ds, figs = run
    fig, trial = figs["hidden_phase_flow"], figs["trial"]
    ax = fig.axes[0]
    shape = str(ds["shape_name"].values[trial])
    assert trial == CLEAREST and figs["frame"] == 10
    assert ax.get_title(loc="left").startswith("phase and flow at t = ")
    assert f"test image {trial} ({shape}), feature 0" in ax.get_title(loc="left")
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x (pixel)", "y (pixel)")
    assert colorbar_label(fig) == "phase (rad)"
    # every kind of marker drawn is in the legend, and the outline
    kinds = [c.get_label() for c in ax.collections
             if type(c).__name__ == "PathCollection" and not c.get_label().startswith("_")]
    assert set(legend_texts(fig)) == {f"{shape} outline", *kinds}
    # the map covers the crop (no rolled seam: the crop of 12 x 12 sites lies in the grid)
    mesh = ax.collections[0]
    assert np.asarray(mesh.get_array()).size == 12 * 12  # flat before matplotlib 3.8
    assert ax.get_xlim()[0] <= -0.5 and ax.get_xlim()[1] >= 11.5
    assert_legends_outside_the_data(fig)
    # the flow's key ("... pixel/time unit") and the x label sit side by side, not on each other
    renderer = fig.canvas.get_renderer()
    key = next(c for c in ax.get_children() if type(c).__name__ == "QuiverKey")
    assert not key.text.get_window_extent(renderer).overlaps(
        ax.xaxis.label.get_window_extent(renderer))


def test_hidden_phase_map_blanks_the_strip_the_encoder_padding_reaches(run):
    ds, figs = run
    ax = figs["hidden_phase_flow"].axes[0]
    shown = np.isfinite(np.asarray(ax.collections[0].get_array(), float).reshape(12, 12))
    # Trial 4's block (centre y 8, x 6) puts the crop at grid rows 2-13 and columns 0-11:
    # the grid's columns 0-2 and rows 2 and 13 lie within 3 sites of the image's edge.
    rows, cols = np.arange(2, 14), np.arange(0, 12)
    near = lambda v: (v < hidden.ENCODER_BORDER) | (v >= SIDE - hidden.ENCODER_BORDER)  # noqa: E731
    expected = ~(near(rows)[:, None] | near(cols)[None, :])
    np.testing.assert_array_equal(shown, expected)
    masks = ds["label"].values > 0
    np.testing.assert_array_equal(hidden.border_sites(masks, roll=False)[CLEAREST], ~expected)
    # No critical point is found in the strip left out.
    for c in ax.collections[1:]:
        if type(c).__name__ == "PathCollection" and not c.get_label().startswith("_"):
            for x, y in np.asarray(c.get_offsets()):
                assert shown[int(round(y)), int(round(x))], (c.get_label(), x, y)


def test_encoder_border_is_how_far_the_zero_padding_reaches():
    torch = pytest.importorskip("torch")
    from wavescope.training.models.nwm import NeuralWaveMachine

    torch.manual_seed(0)
    model = NeuralWaveMachine(in_channels=1, channels=2, n_classes=7, steps=2)
    image = torch.zeros(1, 1, 20, 20)
    image[0, 0, 3:12, 0:9] = 1.0  # touching the left edge
    pad = 8  # the same image inside a larger black frame: no padding reaches it
    with torch.no_grad():
        small = model.encode(image)
        large = [e[..., pad:-pad, pad:-pad]
                 for e in model.encode(torch.nn.functional.pad(image, (pad,) * 4))]
    dist = np.minimum.outer(*(2 * [np.minimum(np.arange(20), np.arange(20)[::-1])]))
    y0_diff = (small[2] - large[2]).abs().amax(dim=(0, 1)).numpy()
    scale = float(small[2].abs().max())  # float32 rounding aside, untouched beyond the strip
    assert y0_diff[dist >= hidden.ENCODER_BORDER].max() < 1e-6 * scale
    assert y0_diff[dist == hidden.ENCODER_BORDER - 1].max() > 1e-3 * scale  # its inner edge
    for a, b in zip(small[:2], large[:2], strict=True):  # omega and alpha reach less far
        diff = (a - b).abs().amax(dim=(0, 1)).numpy()
        assert diff[dist >= hidden.ENCODER_BORDER - 1].max() < 1e-6 * max(float(a.abs().max()), 1)


def test_hidden_kw_shows_the_ridge_the_summary_speed_is_read_from(run):
    ds, figs = run
    fig, trial = figs["hidden_kw"], figs["trial"]
    ax = fig.axes[0]
    assert ax.get_xlabel() == "wavenumber |k| (cycles/pixel)"
    assert ax.get_ylabel() == "frequency (cycles/time unit)"
    label = colorbar_label(fig)
    assert label.startswith("power (") and "_" not in label  # not the variable's name
    title = ax.get_title(loc="left")
    assert f"test image {trial}" in title and "feature 0" in title and "k = 0 left out" in title
    assert "ridge from " in title  # how far the peak frequency climbs with |k|
    texts = legend_texts(fig)
    fit = kw_speed(ds["hidden"].isel(trial=trial, feature=0), method="ridge")
    own, one_sided = float(fit["speed"]), float(fit["directionality"])
    assert texts == ["peak frequency of each |k| (ridge)",
                     f"ridge fit of this image: {own:.2f} pixel/time unit, directionality "
                     f"{one_sided:.2f} (1 travelling, 0 symmetric in ±k)",
                     "median over 12 images: 1.70 pixel/time unit"]
    ridge, fit, median = ax.get_lines()
    np.testing.assert_allclose(np.diff(median.get_ydata()) / np.diff(median.get_xdata()), 1.7)
    np.testing.assert_allclose(np.diff(fit.get_ydata()) / np.diff(fit.get_xdata()), own)
    # the ridge: every ring of |k| peaks at the trial's one frequency (within a bin)
    f_trial = FREQ[int(ds["shape"].values[trial])]
    np.testing.assert_allclose(ridge.get_ydata(), f_trial, atol=1 / 8)
    # zoomed to where the power is: the ridge inside, not the whole spectrum up to Nyquist
    lo, hi = ax.get_ylim()
    assert lo <= f_trial - 0.1 and f_trial + 0.1 <= hi < SFREQ / 2
    k = ridge.get_xdata()
    assert k.min() > 0 and ax.get_xlim()[0] <= k.min()  # k = 0 is not drawn
    assert_legends_outside_the_data(fig)


def test_hidden_spectra_curves_differ_and_the_peak_is_between_bins(run):
    ds, figs = run
    fig = figs["hidden_spectra"]
    top, bottom = fig.axes[:2]
    curves = {line.get_label(): line.get_ydata() for line in bottom.get_lines()
              if not line.get_label().startswith("_")}
    assert sorted(curves) == sorted(hidden.SHAPES)
    names = list(curves)
    for i, a in enumerate(names):  # six distinct curves, not one drawn six times
        for b in names[i + 1:]:
            assert np.abs(curves[a] - curves[b]).max() > 0.05, (a, b)
    peak_line = [line for line in top.get_lines() if line.get_label().startswith("peak")]
    assert len(peak_line) == 1
    peak = float(peak_line[0].get_xdata()[0])
    freqs = hidden.shape_spectra(ds)["freq"].values
    assert peak > freqs[1]  # not the first bin above DC
    assert min(FREQ.values()) - 0.05 < peak < max(FREQ.values()) + 0.05
    assert peak_line[0].get_label() == f"peak {peak:.3g} cycles/time unit"
    assert "resolution 0.125 cycles/time unit (zero-padded 4-fold)" in top.get_title(loc="left")
    assert top.get_ylabel().startswith("power (") and bottom.get_xlabel() == \
        "frequency (cycles/time unit)"
    assert_legends_outside_the_data(fig)


def test_hidden_space_time_names_the_trial_and_row(run):
    _, figs = run
    ax = figs["hidden_space_time"].axes[0]
    title = ax.get_title(loc="left")
    assert title.startswith("phase along the row y = ") and \
        f"test image {figs['trial']}" in title and "feature 0" in title
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("time (time unit)", "x (pixel)")
    lo, hi = ax.get_xlim()
    assert lo <= 0 and hi >= (STEPS - 1) / SFREQ  # the whole roll-out


def test_relative_spectra_legend_lists_every_shape_once(run):
    _, figs = run
    fig = figs["relative_spectra"]
    assert legend_texts(fig) == list(hidden.SHAPES)
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert titles[0].startswith("NWM hidden states, feature 0\nshapes differ by at most")
    assert titles[1].startswith("fixed drum\n")
    assert all(ax.get_ylabel() == "log power re peak (nepers)" for ax in fig.axes)
    assert_legends_outside_the_data(fig)


def test_decoding_bars_and_error_bars_fit_and_are_explained(run):
    _, figs = run
    fig = figs["decoding"]
    for ax, target in zip(fig.axes, ("shape", "area"), strict=True):
        lo, hi = ax.get_xlim()
        for r in (r for r in DECODING if r["target"] == target):
            assert lo < r["mean"] - r["std"] and r["mean"] + r["std"] < hi
    assert legend_texts(fig) == ["spectral decoder", "control (same folds)", "chance"]
    assert_legends_outside_the_data(fig)


def test_gif_is_readable_by_everyone_and_outlines_the_polygon(run, tmp_path):
    _, figs = run
    gif = figs["gif"]
    assert stat.S_IMODE(gif.stat().st_mode) == 0o644
    with Image.open(gif) as movie:
        assert movie.n_frames == STEPS
    z = hidden.model_phase(polygon_export()["hidden"].isel(trial=0, feature=0))
    outline = np.zeros((SIDE, SIDE), bool)
    outline[4:10, 4:10] = True
    plain = wp.animate(z, tmp_path / "plain.gif", progress=False)
    drawn = wp.animate(z, tmp_path / "drawn.gif", progress=False, outline=outline)
    with Image.open(plain) as a, Image.open(drawn) as b:
        a.seek(5)
        b.seek(5)
        pa, pb = np.asarray(a.convert("RGB"), int), np.asarray(b.convert("RGB"), int)
    white = lambda rgb: rgb.min(axis=-1) > 240  # noqa: E731 (twilight's lightest is 226)
    inside = (slice(40, 280), slice(60, 300))  # within the map, clear of the labels
    assert (white(pb[inside]) & ~white(pa[inside])).sum() > 50, "a white outline is drawn"


@pytest.fixture(scope="module")
def eeg_run():
    eeg = ws.datasets.eeg_eyes_closed().isel(time=slice(0, 1600))  # 10 s at 160 Hz
    t = eeg["time"].values
    pattern = np.where((t > 6.0) & (t < 6.5), "planar", "none")
    pgd = 0.5 + 0.4 * np.exp(-((t - 6.2) / 0.1) ** 2)
    events = xr.Dataset({"frame_pgd": ("time", pgd), "frame_synchrony": ("time", 0.3 + 0 * t),
                         "frame_pattern": ("time", pattern)}, coords={"time": t},
                        attrs={"time_units": "s"})
    return wp.eeg_figures(eeg, events), float(t[np.argmax(np.where(pattern == "planar", pgd,
                                                                       0))])


def test_eeg_phase_names_band_and_time_and_draws_the_head(eeg_run):
    figs, t_best = eeg_run
    ax = figs["eeg_phase"].axes[0]
    title = ax.get_title(loc="left")
    assert "8-13 Hz" in title and f"t = {round(t_best, 2):.4g} s" in title
    assert [line.get_label() for line in ax.get_lines()][0] == "head"
    assert [t.get_text() for t in ax.texts] == ["nose"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x (m)", "y (m)")
    assert colorbar_label(figs["eeg_phase"]) == "phase (rad)"


def test_eeg_pgd_window_holds_the_phase_map_frame_and_says_so(eeg_run):
    figs, t_best = eeg_run
    fig = figs["eeg_pgd"]
    ax = fig.axes[0]
    t = ax.get_lines()[0].get_xdata()
    assert t[0] <= t_best <= t[-1]
    assert ax.get_xlim() == (t[0], t[-1])  # the window drawn is the window stated
    assert f"{t[0]:.1f}-{t[-1]:.1f} s of 0-10 s" in ax.get_title(loc="left")
    assert legend_texts(fig) == ["PGD", "synchrony", "planar frames", "frame of the phase map"]
    marker = [line for line in ax.get_lines() if line.get_label() == "frame of the phase map"]
    assert marker[0].get_xdata()[0] == pytest.approx(t_best)
    assert_legends_outside_the_data(fig)


def test_training_figure_legend_once_below_whole_epochs():
    rows = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.1 / e,
             "train_pixel_accuracy": 0.8, "val_pixel_accuracy": 0.82} for e in (1, 2, 3, 4)]
    fig = wp.training_figure(rows, 0.81)
    assert legend_texts(fig) == ["train", "val", "background only"]
    fig.canvas.draw()
    ticks = fig.axes[0].get_xticks()
    np.testing.assert_array_equal(ticks, np.round(ticks))
    assert_legends_outside_the_data(fig)


def test_style_labels_titles_and_legends():
    assert style.label("kw_power", "a.u.") == "kw power (a.u.)"
    assert style.label("frequency") == "frequency"
    assert style.describe(item="test image 3 (square)", feature=0, band=(8, 13),
                          window=(1.0, 11.0), time=2.5) == \
        "test image 3 (square), feature 0, 8-13 Hz, 1-11 s, t = 2.5 s"
    fig = style.figure("line")
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], label="a")
    assert style.legend(ax).get_texts()[0].get_text() == "a"
    assert style.title(ax, "what", "which").get_text() == "what\nwhich"
    assert_legends_outside_the_data(fig)
    assert style.legend(style.figure().add_subplot()) is None  # nothing to label


def test_simulated_flow_arrows_show_the_speed_and_direction_the_summary_states():
    # as the quickstart draws it: the plane wave's phase and flow in the 3-7 band
    wave = ws.simulate.plane_wave((16, 16), speed=50.0, direction=np.pi / 4, n_times=200,
                                  sfreq=100.0, frequency=5.0, noise=0.1, seed=0)
    z = ws.analysis.analytic_signal(wave, (3.0, 7.0)).isel(time=slice(90, 92))
    fig = wp.plot_flow(ws.analysis.optical_flow(z), z)
    style.subtitle(fig.axes[0], "simulated plane wave, 3-7 cycles/step")
    ax = fig.axes[0]
    what, which = ax.get_title(loc="left").split("\n")
    assert what.startswith("phase and flow at t = ") and which == \
        "simulated plane wave, 3-7 cycles/step"
    quiver = next(c for c in ax.collections if type(c).__name__ == "Quiver")
    u, v = np.asarray(quiver.U), np.asarray(quiver.V)
    assert np.angle(np.mean(u + 1j * v)) == pytest.approx(np.pi / 4, abs=0.05)
    assert np.median(np.hypot(u, v)) == pytest.approx(50.0, rel=0.1)
    units = f"{wave.attrs['space_units']}/{wave.attrs['time_units']}"
    key = next(c for c in ax.get_children() if type(c).__name__ == "QuiverKey")
    assert key.text.get_text().endswith(units)
    assert (ax.get_xlabel(), colorbar_label(fig)) == (f"x ({wave.attrs['space_units']})",
                                                      "phase (rad)")
