import math

import pytest
import torch
import torch.nn.functional as F

from wavescope.training.models import (
    ConvLSTM,
    LocalCNN,
    NeuralWaveMachine,
    UNet,
    make_head,
    make_readout,
    readout_head,
    wave_rollout,
)
from wavescope.training.models.nwm import laplacian_kernel


def n_params(model):
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------ parameter counts
def test_published_parameter_counts():
    multi = NeuralWaveMachine(in_channels=1, channels=16, n_classes=11, steps=100,
                              readout="linear", head="mlp32x5")
    assert n_params(multi) == 54_855
    tetro = NeuralWaveMachine(in_channels=3, channels=2, n_classes=6, steps=100,
                              readout="linear", head="mlp256")
    assert n_params(tetro) == 176_124
    assert [n_params(UNet(1, 11, c)) for c in (2, 3, 4, 5)] == [30_745, 68_834, 122_071,
                                                                190_456]


def test_unused_readout_is_not_built():
    # fft/last/mean/max have no Linear(T -> K): 176,124 - 100 * 51 parameters, and the head
    # shrinks with the features (C instead of K·C for last/mean/max).
    fft = NeuralWaveMachine(3, 2, 6, 100, readout="fft")
    assert n_params(fft) == 176_124 - 5_100
    last = NeuralWaveMachine(3, 2, 6, 100, readout="last")
    assert n_params(last) == 176_124 - 5_100 - (102 - 2) * 256


# ------------------------------------------------------------------ shapes
@pytest.mark.parametrize("model", [
    NeuralWaveMachine(3, 2, 6, steps=5),
    ConvLSTM(3, 2, 6, steps=4),
    LocalCNN(3, 6, layers=3),
])
def test_shapes_non_square(model):
    x = torch.rand(2, 3, 11, 17)
    logits, hidden = model(x, return_hidden=True)
    assert logits.shape == (2, 6, 11, 17)
    assert hidden.ndim == 5 and hidden.shape[0] == 2 and hidden.shape[-2:] == (11, 17)
    torch.testing.assert_close(model(x), logits)


def test_hidden_sequence_lengths():
    x = torch.rand(1, 3, 8, 9)
    assert NeuralWaveMachine(3, 2, 6, steps=7)(x, return_hidden=True)[1].shape == (1, 7, 2, 8, 9)
    assert ConvLSTM(3, 2, 6, steps=4)(x, return_hidden=True)[1].shape == (1, 4, 2, 8, 9)


def test_unet_non_square_and_odd_sizes():
    net = UNet(1, 11, 2).eval()
    assert net(torch.rand(1, 1, 40, 56)).shape == (1, 11, 40, 56)
    assert net(torch.rand(1, 1, 37, 50)).shape == (1, 11, 37, 50)
    with pytest.raises(ValueError, match="16"):
        net(torch.rand(1, 1, 8, 40))


def test_wrong_input_channels_is_an_error():
    with pytest.raises(ValueError, match="expected images"):
        NeuralWaveMachine(3, 2, 6, steps=2)(torch.rand(1, 1, 8, 8))


# ------------------------------------------------------------------ NWM dynamics
def test_coupling_starts_as_laplacian():
    model = NeuralWaveMachine(3, 4, 6, steps=2)
    lap = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]])
    w = model.coupling.detach()
    for i in range(4):
        for j in range(4):
            torch.testing.assert_close(w[i, j], lap if i == j else torch.zeros(3, 3))
    torch.testing.assert_close(laplacian_kernel(4), w)


def test_one_step_update_by_hand():
    # One channel on a 3×4 torus; y0 is a single bump, z0 = 0.
    dt = 0.1
    y0 = torch.zeros(1, 1, 3, 4)
    y0[0, 0, 1, 2] = 1.0
    omega = torch.full_like(y0, 2.0)
    alpha = torch.full_like(y0, 0.5)
    seq = wave_rollout(y0, omega, alpha, laplacian_kernel(1), steps=1, dt=dt)
    # Laplacian of the bump: -4 at the bump, +1 at its 4 neighbours (with wrap-around).
    lap = torch.zeros(3, 4)
    lap[1, 2] = -4
    lap[0, 2] = lap[2, 2] = lap[1, 1] = lap[1, 3] = 1
    z1 = dt * (torch.tanh(lap) - 2.0 * y0[0, 0])  # alpha * z0 = 0
    y1 = y0[0, 0] + dt * z1
    torch.testing.assert_close(seq[0, 0, 0], y1)
    assert seq[0, 0, 0, 1, 2].item() == pytest.approx(1 + dt * dt * (math.tanh(-4) - 2))
    # Wrap-around: the bump at column 2 of 4 has no effect two columns away (column 0)...
    assert seq[0, 0, 0, 1, 0].item() == 0
    # ...but a bump in the last column reaches column 0 through the circular padding.
    y0b = torch.zeros(1, 1, 3, 4)
    y0b[0, 0, 1, 3] = 1.0
    seqb = wave_rollout(y0b, omega, alpha, laplacian_kernel(1), steps=1, dt=dt)
    assert seqb[0, 0, 0, 1, 0].item() == pytest.approx(dt * dt * math.tanh(1))


def _reference_rollout(y0, omega, alpha, weight, steps, dt):
    y, z, out = y0, torch.zeros_like(y0), []
    for _ in range(steps):
        coupled = F.conv2d(F.pad(y, (1, 1, 1, 1), mode="circular"), weight)
        z = z + dt * (torch.tanh(coupled) - omega * y - alpha * z)
        y = y + dt * z
        out.append(y)
    return torch.stack(out, 1)


@pytest.mark.parametrize("segment", [1, 3, 12])
def test_rollout_matches_autograd_reference(segment):
    gen = torch.Generator().manual_seed(0)
    shape = (2, 3, 5, 6)
    args = [torch.randn(shape, generator=gen, dtype=torch.float64),
            torch.rand(shape, generator=gen, dtype=torch.float64) * 2,
            torch.rand(shape, generator=gen, dtype=torch.float64) * 0.5,
            torch.randn(3, 3, 3, 3, generator=gen, dtype=torch.float64) * 0.3]
    args = [a.requires_grad_() for a in args]
    grad = torch.randn(2, 12, *shape[1:], generator=gen, dtype=torch.float64)
    ours = wave_rollout(*args, steps=12, dt=0.1, segment=segment)
    ref = _reference_rollout(*args, steps=12, dt=0.1)
    assert torch.equal(ours, ref)  # same operations in the same order
    g_ours = torch.autograd.grad((ours * grad).sum(), args)
    g_ref = torch.autograd.grad((ref * grad).sum(), args)
    for a, b in zip(g_ours, g_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_linearised_wave_speed_is_about_one_pixel_per_unit_time():
    # Small amplitude (tanh ~ identity), no restoring force or damping: a wave equation with
    # c = 1 pixel per unit time. A bump's spread after time t reaches about t pixels.
    y0 = torch.zeros(1, 1, 1, 81)
    y0[..., 40] = 1e-3
    zero = torch.zeros_like(y0)
    kernel = torch.zeros(1, 1, 3, 3)
    kernel[0, 0, 1] = torch.tensor([1.0, -2.0, 1.0])  # 1-D Laplacian along x
    seq = wave_rollout(y0, zero, zero, kernel, steps=200, dt=0.1)[0, :, 0, 0]  # (T, x)
    front = [int((s.abs() > 1e-3 * 0.05).nonzero().max()) - 40 for s in seq[99::50]]
    # after t = 10, 15, 20 time units the front is near 10, 15, 20 pixels away
    for t, f in zip((10, 15, 20), front, strict=True):
        assert abs(f - t) <= 3


def test_rollout_rejects_mismatched_shapes():
    y0 = torch.zeros(1, 2, 4, 4)
    with pytest.raises(ValueError, match="share one"):
        wave_rollout(y0, torch.zeros(1, 2, 4, 5), y0, laplacian_kernel(2), 3, 0.1)
    with pytest.raises(ValueError, match="weight"):
        wave_rollout(y0, y0, y0, laplacian_kernel(3), 3, 0.1)


# ------------------------------------------------------------------ readouts and heads
def _seq(T=10, C=2, H=3, W=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(2, T, C, H, W, generator=gen, dtype=torch.float64)


def test_linear_readout_is_a_shared_matrix_over_time():
    seq = _seq()
    ro = make_readout("linear", 10, 2).double()
    feats = ro(seq)
    assert ro.n_freq == 6 and feats.shape == (2, 12, 3, 4)
    L = ro.linear.weight
    # feature c·K + k at pixel (i, j) = sum_t L[k, t] seq[b, t, c, i, j]
    expected = torch.einsum("kt,btcij->bckij", L, seq).reshape(2, 12, 3, 4)
    torch.testing.assert_close(feats, expected)


def test_fft_readout_is_spectrum_magnitude():
    T = 8
    t = torch.arange(T, dtype=torch.float64)
    seq = torch.zeros(1, T, 1, 1, 1, dtype=torch.float64)
    seq[0, :, 0, 0, 0] = 3 + torch.cos(2 * math.pi * 2 * t / T)
    feats = make_readout("fft", T, 1)(seq)[0, :, 0, 0]
    torch.testing.assert_close(feats, torch.tensor([24.0, 0, 4, 0, 0], dtype=torch.float64),
                               atol=1e-12, rtol=0)


@pytest.mark.parametrize("T", [7, 8])
def test_fft_readout_gradient_equals_autograd(T):
    # The readout's own backward (one inverse real FFT) against autograd through rfft and
    # abs, odd and even T (Nyquist bin), in float64; the forward is rfft().abs() itself.
    seq = torch.randn(2, T, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    readout = make_readout("fft", T, 3)
    g = torch.randn(2, readout.n_features, 4, 5, dtype=torch.float64)
    (ours,) = torch.autograd.grad(readout(seq), seq, g)
    ref = torch.fft.rfft(seq, dim=1).abs().transpose(1, 2).reshape(2, -1, 4, 5)
    (expected,) = torch.autograd.grad(ref, seq, g)
    assert torch.equal(readout(seq), ref)
    torch.testing.assert_close(ours, expected, rtol=1e-12, atol=1e-12)


def test_last_mean_max_readouts():
    seq = _seq(T=5)
    torch.testing.assert_close(make_readout("last", 5, 2)(seq), seq[:, -1])
    torch.testing.assert_close(make_readout("mean", 5, 2)(seq), seq.mean(1))
    torch.testing.assert_close(make_readout("max", 5, 2)(seq), seq.amax(1))
    with pytest.raises(ValueError, match="unknown readout"):
        make_readout("median", 5, 2)


def test_heads_have_the_published_widths():
    widths = [(lay.in_features, lay.out_features) for lay in make_head("mlp256", 102, 6).layers]
    assert widths == [(102, 256), (256, 256), (256, 256), (256, 6)]
    widths = [(lay.in_features, lay.out_features) for lay in make_head("mlp32x5", 816, 11).layers]
    assert widths == [(816, 32)] + [(32, 32)] * 4 + [(32, 11)]


def _plain_head(feats, head):
    x = feats.permute(0, 2, 3, 1)
    for i, layer in enumerate(head.layers):
        x = layer(x)
        if i < len(head.layers) - 1:
            x = torch.relu(x)
    return x.permute(0, 3, 1, 2)


@pytest.mark.parametrize("T, head, chunk", [(10, "mlp256", 5), (40, "mlp32x5", 7),
                                            (6, "mlp32x5", 1000)])
def test_readout_head_equals_readout_then_head(T, head, chunk):
    # Small T and a wide head take the "readout then layer" path, large T and a narrow head
    # the composed map; both, and the blocked evaluation, must equal the plain computation.
    seq = _seq(T=T, C=3).requires_grad_()
    ro = make_readout("linear", T, 3).double()
    hd = make_head(head, ro.n_features, 5).double()
    hd.chunk = chunk
    params = [seq, *ro.parameters(), *hd.parameters()]
    out = readout_head(seq, ro, hd)
    ref = _plain_head(ro(seq), hd)
    torch.testing.assert_close(out, ref)
    g = torch.randn_like(ref)
    for a, b in zip(torch.autograd.grad((out * g).sum(), params),
                    torch.autograd.grad((ref * g).sum(), params), strict=True):
        torch.testing.assert_close(a, b)
    # the head alone on features
    torch.testing.assert_close(hd(ro(seq)), ref)
