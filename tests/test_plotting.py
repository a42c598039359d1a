import shutil

import matplotlib
import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure
from PIL import Image
from scipy.signal import hilbert

import wavescope as ws
from wavescope import plotting as wp
from wavescope import simulate as sim
from wavescope.analysis import critical_points, optical_flow

matplotlib.use("Agg")

# 100 samples at sfreq 100 hold exactly 5 cycles of 5 Hz: the FFT Hilbert transform is exact.
COMMON = {"n_times": 100, "sfreq": 100.0, "frequency": 5.0, "source": "recording"}


def analytic(da):
    return da.copy(data=hilbert(da.values, axis=da.get_axis_num("time")))


@pytest.fixture(scope="module")
def rotating():
    da = sim.rotating_wave((16, 16), centre=(3.6, 4.1), spacing=0.5, space_units="mm",
                           **COMMON)
    return analytic(da)


@pytest.fixture(scope="module")
def flow(rotating):
    return optical_flow(rotating)


def labels(fig):
    ax = fig.axes[0]
    return ax.get_xlabel(), ax.get_ylabel()


def rendered(fig):
    """Draw the figure; return its RGB pixels (drawing catches errors that creation misses)."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3]


def test_phase_map_of_a_grid(rotating):
    fig = wp.plot_phase_map(rotating, time=0.1)
    assert isinstance(fig, Figure)
    assert labels(fig) == ("x (mm)", "y (mm)")
    assert fig.axes[0].get_title() == "phase at t = 0.1 s"
    mesh = fig.axes[0].collections[0]
    np.testing.assert_allclose(mesh.get_array().reshape(16, 16),
                               np.angle(rotating.sel(time=0.1).values))
    assert mesh.get_cmap().name == "twilight"  # cyclic
    assert fig.axes[1].get_ylabel() == "phase (rad)"  # colour bar
    assert rendered(fig).std() > 0


def test_phase_map_of_channels_and_real_phases():
    pos = np.random.default_rng(0).uniform(0, 10, (20, 2))
    da = analytic(sim.plane_wave(pos, speed=30.0, space_units="cm", **COMMON))
    fig = wp.plot_phase_map(da, time=0.05)
    assert labels(fig) == ("x (cm)", "y (cm)")
    dots = fig.axes[0].collections[0]
    np.testing.assert_allclose(dots.get_offsets(), pos)
    # real input is taken as phases in radians and wrapped
    fig2 = wp.plot_phase_map(da.copy(data=np.angle(da.values) + 2 * np.pi), time=0.05)
    np.testing.assert_allclose(fig2.axes[0].collections[0].get_array(),
                               dots.get_array(), atol=1e-12)


def test_selection_errors_name_the_dim(rotating):
    trials = xr.concat([rotating, rotating], dim="trial")
    with pytest.raises(ValueError, match="'trial'"):
        wp.plot_phase_map(trials)
    fig = wp.plot_phase_map(trials.assign_coords(trial=[7, 8]), trial=8)
    assert labels(fig) == ("x (mm)", "y (mm)")
    with pytest.raises(ValueError, match="not dims"):
        wp.plot_phase_map(rotating, feature=0)


def test_flow_over_phase_with_critical_points(rotating, flow):
    fig = wp.plot_flow(flow, rotating, time=0.2)
    ax = fig.axes[0]
    assert labels(fig) == ("x (mm)", "y (mm)")
    quiver = [c for c in ax.collections if type(c).__name__ == "Quiver"][0]
    assert quiver.N == 16 * 16
    key = [c for c in ax.get_children() if type(c).__name__ == "QuiverKey"][0]
    assert key.text.get_text().endswith("mm/s")
    assert "t = 0.205 s" in ax.get_title(loc="left")  # flow times are midpoints
    points = critical_points(flow)
    same = wp.plot_critical_points(points, ax=ax, time=0.2)
    assert same is fig
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["centre"]
    marker = ax.collections[-1].get_offsets()
    assert len(marker) == 1
    assert np.hypot(marker[0, 0] - 3.6, marker[0, 1] - 4.1) < 0.3
    rendered(fig)


def test_flow_alone_thins_arrows(flow):
    big = flow.interp(x=np.linspace(0, 7.5, 60), y=np.linspace(0, 7.5, 60))
    fig = wp.plot_flow(big)
    quiver = fig.axes[0].collections[0]
    assert quiver.N == 20 * 20
    assert labels(fig) == ("x (mm)", "y (mm)")


def test_critical_points_on_their_own_figure():
    points = xr.Dataset(
        {"kind": ("point", ["source", "sink", "saddle", "source"])},
        coords={"x": ("point", [1.0, 2.0, 3.0, 4.0]), "y": ("point", [0.0, 1.0, 0.0, 2.0])},
        attrs={"space_units": "um"},
    )
    fig = wp.plot_critical_points(points)
    assert labels(fig) == ("x (um)", "y (um)")
    assert sorted(t.get_text() for t in fig.legends[0].get_texts()) == [
        "saddle", "sink", "source"]
    rendered(fig)


def test_space_time_of_a_line_shows_the_speed():
    da = sim.plane_wave((40,), speed=20.0, spacing=0.25, space_units="mm", **COMMON)
    fig = wp.plot_space_time(da)
    assert labels(fig) == ("time (s)", "x (mm)")
    values = fig.axes[0].collections[0].get_array().reshape(40, 100)
    np.testing.assert_allclose(values, da.values.T)  # position vertical, time horizontal
    assert fig.axes[1].get_ylabel() == "activity (a.u.)"
    rendered(fig)


def test_space_time_of_a_grid_row_as_phase(rotating):
    fig = wp.plot_space_time(rotating, y=2.0)
    assert labels(fig) == ("time (s)", "x (mm)")
    assert "y = 2 mm" in fig.axes[0].get_title()
    values = fig.axes[0].collections[0].get_array().reshape(16, 100)
    np.testing.assert_allclose(values, np.angle(rotating.sel(y=2.0).values.T))
    with pytest.raises(ws.DataModelError, match="channel"):
        wp.plot_space_time(ws.as_channels(rotating))


def test_spectrum_lines_and_units():
    freqs = np.linspace(0, 50, 51)
    power = np.exp(-((freqs - 10) ** 2) / 8)[None, :] * np.arange(1, 4)[:, None] + 1e-3
    spec = xr.DataArray(power, dims=("x", "freq"),
                        coords={"x": [0.0, 1.0, 2.0],
                                "freq": ("freq", freqs, {"units": "Hz"})},
                        attrs={"units": "uV^2/Hz", "time_units": "s"}, name="power")
    fig = wp.plot_spectrum(spec)
    ax = fig.axes[0]
    assert labels(fig) == ("frequency (Hz)", "power (uV^2/Hz)")
    assert len(ax.get_lines()) == 3 and ax.get_yscale() == "log"
    many = xr.concat([spec] * 10, dim="trial")
    assert len(wp.plot_spectrum(many).axes[0].get_lines()) == 31  # 30 grey + the mean
    # a model's spectrum without freq units: cycles per step from time_units
    model = spec.copy()
    model["freq"].attrs = {}
    model.attrs["time_units"] = "step"
    assert labels(wp.plot_spectrum(model))[0] == "frequency (cycles/step)"


def test_kw_spectrum_axes_and_speed_lines():
    k = np.linspace(-2, 2, 41)
    f = np.linspace(0, 50, 26)
    power = np.ones((41, 26))
    power[25, 2] = 1e3  # k = 0.5 cycles/mm, f = 4 Hz: 8 mm/s
    spec = xr.DataArray(
        power, dims=("k", "freq"),
        coords={"k": ("k", k, {"units": "cycles/mm", "long_name": "wavenumber"}),
                "freq": ("freq", f, {"units": "Hz", "long_name": "frequency"})},
        attrs={"units": "a.u.", "space_units": "mm", "time_units": "s"}, name="kw_power")
    fig = wp.plot_kw(spec, speeds=[8.0])
    ax = fig.axes[0]
    assert labels(fig) == ("wavenumber k (cycles/mm)", "frequency (Hz)")
    image = ax.collections[0].get_array().reshape(26, 41)  # freq vertical
    assert np.unravel_index(np.nanargmax(image), image.shape) == (2, 25)
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), 8.0 * line.get_xdata())
    assert ax.texts[0].get_text() == "8 mm/s"
    with pytest.raises(ws.DataModelError, match="2-D"):
        wp.plot_kw(spec.expand_dims(ky=3))
    rendered(fig)


def test_animate_writes_a_multi_frame_gif(tmp_path, rotating):
    path = wp.animate(rotating.isel(time=slice(0, 12)), tmp_path / "wave.gif", fps=5,
                      progress=False)
    assert path == tmp_path / "wave.gif"
    with Image.open(path) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == 12
        assert gif.info["duration"] == 200
        gif.seek(0)
        first = np.asarray(gif.convert("RGB"))
        gif.seek(6)
        later = np.asarray(gif.convert("RGB"))
    assert not np.array_equal(first, later)  # the wave moves
    assert [p.name for p in tmp_path.iterdir()] == ["wave.gif"]  # no temporary left


def test_animate_real_channels_every_other_frame(tmp_path):
    pos = np.random.default_rng(1).uniform(0, 5, (12, 2))
    da = sim.plane_wave(pos, n_times=10, space_units="mm", source="recording")
    path = wp.animate(da, tmp_path / "chan.gif", step=2, progress=False)
    with Image.open(path) as gif:
        assert gif.n_frames == 5


def test_animate_errors(tmp_path, rotating):
    with pytest.raises(ValueError, match=".gif or .mp4"):
        wp.animate(rotating, tmp_path / "wave.avi")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        wp.animate(rotating, tmp_path / "missing" / "wave.gif")
    if shutil.which("ffmpeg") is None:
        with pytest.raises(RuntimeError, match="ffmpeg"):
            wp.animate(rotating, tmp_path / "wave.mp4")
    else:
        path = wp.animate(rotating.isel(time=slice(0, 4)), tmp_path / "wave.mp4",
                          progress=False)
        assert path.stat().st_size > 0


def test_kw_zooms_to_where_the_power_is_and_names_it():
    k = np.linspace(-2, 2, 41)  # bins of 0.1 cycles/mm
    f = np.linspace(0, 50, 26)  # bins of 2 Hz
    power = np.full((41, 26), 1e-9)
    power[24:27, 1:4] = 1.0  # k 0.4-0.6 cycles/mm, f 2-6 Hz
    spec = xr.DataArray(
        power, dims=("k", "freq"),
        coords={"k": ("k", k, {"units": "cycles/mm"}), "freq": ("freq", f, {"units": "Hz"})},
        attrs={"units": "a.u."}, name="kw_power")
    ax = wp.plot_kw(spec).axes[0]
    lo, hi = ax.get_xlim()
    assert lo < 0.4 and hi > 0.6 and hi - lo < 1.5  # the block and a margin, not +-2
    assert ax.get_ylim()[1] < 20  # not up to 50 Hz
    assert ax.get_ylim()[0] <= 2 - 1  # the block's lowest bin is shown whole
    assert fig_colorbar_label(ax) == "power (a.u.)"
    full = wp.plot_kw(spec, zoom=None).axes[0]
    np.testing.assert_allclose(full.get_xlim(), (-2.05, 2.05))
    np.testing.assert_allclose(full.get_ylim(), (-1.0, 51.0))
    with pytest.raises(ValueError, match="zoom"):
        wp.plot_kw(spec, zoom=1.5)


def fig_colorbar_label(ax):
    return ax.figure.axes[1].get_ylabel()


def test_phase_map_of_scalp_sensors_draws_the_head_and_nose():
    angle = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    pos = 0.1 * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    z = sim.plane_wave(pos, n_times=10, space_units="m", source="recording")
    ax = wp.plot_phase_map(analytic(z), head=True).axes[0]
    head = next(line for line in ax.get_lines() if line.get_label() == "head")
    radius = np.hypot(head.get_xdata(), head.get_ydata())
    np.testing.assert_allclose(radius, radius[0])
    assert radius[0] > 0.1  # around every sensor
    nose = ax.get_lines()[1]
    assert nose.get_ydata().max() > radius[0]  # the nose points to +y
    assert [t.get_text() for t in ax.texts] == ["nose"]
    with pytest.raises(ws.DataModelError, match="head"):
        wp.plot_phase_map(sim.plane_wave((4, 4), n_times=5), head=True)


def test_animate_titles_every_frame_with_what_it_shows(tmp_path, rotating, monkeypatch):
    titles = []
    real = matplotlib.text.Text.set_text

    def spy(self, text):
        titles.append(text)
        return real(self, text)

    monkeypatch.setattr(matplotlib.text.Text, "set_text", spy)
    wp.animate(rotating.isel(time=slice(0, 3)), tmp_path / "w.gif", progress=False,
               title="trial 2, feature 0")
    frames = [t for t in titles if str(t).startswith("trial 2, feature 0, t = ")]
    assert len(frames) >= 3


def test_pgd_figure_shows_the_window_around_the_phase_map_frame():
    t = np.arange(0, 60, 0.01)
    ev = xr.Dataset({"frame_pgd": ("time", np.full(t.size, 0.5)),
                     "frame_synchrony": ("time", np.full(t.size, 0.2)),
                     "frame_pattern": ("time", np.where(t > 40, "planar", "none"))},
                    coords={"time": t}, attrs={"time_units": "s"})
    fig = wp.pgd_figure(ev, seconds=10.0, centre=41.0)
    ax = fig.axes[0]
    shown = ax.get_lines()[0].get_xdata()
    assert shown[0] == pytest.approx(36.0) and shown[-1] == pytest.approx(46.0)
    title = ax.get_title(loc="left")
    assert "36.0-46.0 s of 0-60 s" in title and "8-13 Hz" in title
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "PGD", "synchrony", "planar frames", "frame of the phase map"]
    assert wp.pgd_figure(ev, centre=58.0).axes[0].get_lines()[0].get_xdata()[-1] == \
        pytest.approx(59.99)  # the window stays inside the recording


def test_shape_spectra_figure_shows_where_shapes_differ():
    freqs = np.arange(0.0, 2.5, 0.1)
    base = np.exp(-freqs / 0.1) + 1e-12  # one shared peak, then decades of fall-off
    gain = {"square": 1.0, "triangle": 1.1}
    names = np.array(["square", "triangle"] * 3)
    values = np.stack([base * gain[n] for n in names])
    spec = xr.DataArray(values, dims=("trial", "freq"),
                        coords={"freq": ("freq", freqs, {"units": "cycles/step"}),
                                "shape_name": ("trial", names)},
                        attrs={"units": "(a.u.)^2/(cycles/step)"})
    fig = wp.shape_spectra_figure(spec)
    top, bottom = fig.axes[:2]
    ratios = {line.get_label(): line.get_ydata() for line in bottom.get_lines()
              if not line.get_label().startswith("_")}
    assert set(ratios) == {"square", "triangle"}
    mean = (1.0 + 1.1) / 2
    np.testing.assert_allclose(ratios["triangle"], np.log10(1.1 / mean))
    np.testing.assert_allclose(ratios["square"], np.log10(1.0 / mean))
    kept = top.get_lines()[0].get_xdata()
    assert kept.max() < 1.5  # frequencies below 1e-6 of the peak are left out
    assert "resolution 0.1 cycles/step" in top.get_title(loc="left")
    assert bottom.get_ylabel() == "log10(shape / all shapes)"


def test_training_figure_draws_both_splits_and_the_baseline():
    rows = [{"epoch": e, "train_loss": 2.0 / e, "val_loss": 2.2 / e,
             "train_pixel_accuracy": 0.5 + 0.1 * e, "val_pixel_accuracy": 0.45 + 0.1 * e}
            for e in (1, 2, 3)]
    fig = wp.training_figure(rows, background=0.7)
    loss, acc = fig.axes
    np.testing.assert_allclose(loss.get_lines()[0].get_ydata(), [2.0, 1.0, 2.0 / 3])
    assert acc.get_lines()[-1].get_ydata()[0] == 0.7  # the background-only line
    assert loss.get_ylabel() == "cross-entropy (nats per pixel)"
    assert acc.get_ylabel() == "pixel accuracy (fraction)"
    assert rendered(fig).std() > 0
    assert len(wp.training_figure(rows, None).axes[1].get_lines()) == 2


def test_decoding_figure_has_one_bar_per_row_spectra_opaque():
    rows = [{"source": s, "target": t, "decoder": d, "description": d, "mean": m,
             "std": 0.05, "chance": 0.2, "scoring": "accuracy" if t == "shape" else "r2"}
            for s, t, d, m in (("fixed drum", "shape", "spectra", 0.6),
                               ("fixed drum", "shape", "shuffled", 0.2),
                               ("input image", "shape", "pixel_count", 0.4),
                               ("fixed drum", "area", "spectra", 0.9))]
    fig = wp.decoding_figure(rows)
    shape, area = fig.axes
    bars = [p for p in shape.patches]
    assert [b.get_width() for b in bars] == [0.4, 0.2, 0.6]  # first row on top
    assert bars[2].get_facecolor()[3] == 1.0 and bars[1].get_facecolor()[3] == 0.5
    assert shape.get_xlabel() == "accuracy (fraction)"
    assert area.get_xlabel() == "R² (fraction of variance)" and len(area.patches) == 1
    assert rendered(fig).std() > 0


def test_relative_spectra_figure_draws_each_shape_per_source():
    t = np.arange(200) / 100.0
    rows = [np.cos(2 * np.pi * f * t) for f in (5, 5, 10, 10)]
    da = ws.from_array(np.stack(rows)[:, :, None, None] * np.ones((1, 1, 2, 2)),
                       ("trial", "time", "y", "x"), sfreq=100.0, source="model")
    names = np.array(["square", "triangle", "square", "triangle"])
    fig = wp.relative_spectra_figure({"a": da, "b": da}, names)
    assert [ax.get_title(loc="left").split("\n")[0] for ax in fig.axes] == ["a", "b"]
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels == ["triangle", "square"]  # in the order of the polygon classes
    peak = np.argmin(np.abs(fig.axes[0].get_lines()[0].get_xdata() - 1.0))
    assert abs(fig.axes[0].get_lines()[0].get_ydata()[peak]) < 0.1  # 0 nepers at the peak


def test_flow_outline_figure_outlines_the_object_over_phase_and_flow(rotating):
    outline = np.zeros((16, 16), bool)
    outline[5:10, 5:10] = True
    fig = wp.flow_outline_figure(rotating.isel(time=slice(0, 2)), outline, name="square",
                                 title="trial 3")
    ax = fig.axes[0]
    assert ax.get_title(loc="left").startswith("phase and flow at t = 0.005 s\ntrial 3")
    assert "square outline" in [t.get_text() for t in fig.legends[0].get_texts()]
    assert rendered(fig).std() > 0


def test_phase_map_leaves_bad_sites_blank():
    import json

    from wavescope import simulate as sim
    from wavescope.analysis import analytic_signal
    from wavescope.plotting import plot_phase_map

    z = analytic_signal(sim.plane_wave((6, 6), n_times=200), (3.0, 7.0))
    cells = lambda fig: np.ma.getmaskarray(fig.axes[0].collections[0].get_array())  # noqa: E731
    assert not cells(plot_phase_map(z, 1.0)).any()
    blank = cells(plot_phase_map(z.assign_attrs(bads=json.dumps(["y2x3"])), 1.0))
    assert blank.sum() == 1 and blank.reshape(6, 6)[2, 3]


def _drawn_boxes(fig):
    """(image axes, colour bar axes) positions once drawn (aspect and layout applied)."""
    fig.canvas.draw()
    image, bar = fig.axes[0], fig.axes[1]
    return image.get_position(), bar.get_position()


@pytest.mark.parametrize("shape", [(8, 24), (24, 8), (16, 16)])
def test_colour_bar_is_as_tall_as_the_equal_aspect_map(shape):
    # An equal-aspect map of a wide grid is drawn much lower than the space the layout
    # gives it (and a tall grid's much narrower): the bar follows the map, not the space.
    fig = wp.plot_phase_map(analytic(sim.plane_wave(shape, speed=40.0, **COMMON)), time=0.1)
    image, bar = _drawn_boxes(fig)
    assert bar.height == pytest.approx(image.height, abs=1e-9)
    assert bar.y0 == pytest.approx(image.y0, abs=1e-9)
    gap = (bar.x0 - image.x1) * fig.get_figwidth()
    assert gap == pytest.approx(wp.style.COLORBAR_PAD, abs=1e-6)  # just right of the map
    assert fig.axes[1].get_ylabel() == "phase (rad)"


def test_colour_bar_of_a_space_time_image_spans_its_axes():
    fig = wp.plot_space_time(sim.plane_wave((16, 16), speed=40.0, **COMMON), row=0)
    image, bar = _drawn_boxes(fig)
    assert (bar.height, bar.y0) == pytest.approx((image.height, image.y0), abs=1e-9)


def test_colour_bar_of_a_map_drawn_as_values_on_a_given_axes():
    fig = wp.style.figure("wide")
    ax = fig.add_subplot()
    art = ax.pcolormesh(np.random.default_rng(0).random((6, 30)))
    ax.set_aspect("equal")
    bar = wp.style.colorbar(fig, art, ax, "power", "V^2/Hz")
    fig.canvas.draw()
    assert bar.ax.get_position().height == pytest.approx(ax.get_position().height, abs=1e-9)
    assert bar.ax.get_ylabel() == "power (V^2/Hz)"
    renderer = fig.canvas.get_renderer()
    assert bar.ax.get_tightbbox(renderer).x1 <= fig.bbox.x1  # its labels inside the figure
