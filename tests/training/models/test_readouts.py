"""The blocked head with the fft readout inside it, and where its gradients are stored."""

import pytest
import torch
import torch.nn.functional as F

from wavescope.training.models import NeuralWaveMachine, make_head, make_readout, readout_head
from wavescope.training.models.readouts import dft_matrix, pixel_mlp


def _plain_head(feats, head):
    x = feats.permute(0, 2, 3, 1)
    for i, layer in enumerate(head.layers):
        x = layer(x)
        if i < len(head.layers) - 1:
            x = torch.relu(x)
    return x.permute(0, 3, 1, 2)


def _fft_features(seq):
    b, _, _, h, w = seq.shape
    return torch.fft.rfft(seq, dim=1).abs().transpose(1, 2).reshape(b, -1, h, w)


@pytest.mark.parametrize("T", [1, 2, 7, 12])
def test_dft_matrix_is_the_real_fft(T):
    y = torch.randn(T, 3, dtype=torch.float64)
    d = dft_matrix(T, y) @ y
    spec = torch.fft.rfft(y, dim=0)
    k, n_sin = T // 2 + 1, (T - 1) // 2
    assert d.shape == (T, 3)
    torch.testing.assert_close(d[:k], spec.real)
    torch.testing.assert_close(d[k:], -spec.imag[1:1 + n_sin])
    assert torch.all(spec.imag[0] == 0)  # the bins left out have no imaginary part


# mlp256 on few features recomputes its first layer in the backward, mlp32x5 on 3·K
# features keeps it; chunks that do and do not divide the image, even and odd T.
@pytest.mark.parametrize("T, C, head, chunk", [(10, 3, "mlp256", 7), (9, 2, "mlp32x5", 5),
                                               (12, 16, "mlp32x5", 1000), (5, 1, "mlp256", 3)])
def test_fft_readout_in_the_head_equals_rfft_then_head(T, C, head, chunk):
    gen = torch.Generator().manual_seed(T)
    seq = torch.randn(3, T, C, 4, 5, generator=gen, dtype=torch.float64)
    seq[0, :, 0] = 0.0  # a silent pixel: |X| = 0 in every bin, where both take gradient 0
    seq.requires_grad_()
    ro = make_readout("fft", T, C)
    hd = make_head(head, ro.n_features, 4).double()
    hd.chunk = chunk
    out = readout_head(seq, ro, hd)
    ref = _plain_head(_fft_features(seq), hd)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    g = torch.randn(ref.shape, generator=gen, dtype=torch.float64)
    params = [seq, *hd.parameters()]
    ours = torch.autograd.grad((out * g).sum(), params)
    theirs = torch.autograd.grad((ref * g).sum(), params)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_second_backward_is_a_clear_error():
    # The first backward wrote the input's gradient over the kept activations.
    seq = torch.randn(2, 6, 2, 3, 2, requires_grad=True)
    ro = make_readout("fft", 6, 2)
    out = readout_head(seq, ro, make_head("mlp256", ro.n_features, 3)).sum()
    out.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="backward runs once per forward"):
        out.backward()


def test_input_gradient_lives_in_the_activations_buffer():
    # The gradient of the head's input is written over activations the backward has used,
    # so it takes no memory of its own: its storage is the activations' buffer, larger than
    # the gradient itself.
    seq = torch.randn(4, 8, 2, 6, 6, requires_grad=True)
    ro = make_readout("fft", 8, 2)
    hd = make_head("mlp256", ro.n_features, 5)
    seen = {}
    seq.register_hook(lambda g: seen.update(storage=g.untyped_storage().nbytes()))
    out = readout_head(seq, ro, hd)
    out.sum().backward()
    acts = (4 + 1) * 2 * 256 * 36 * 4  # B + 1 slots of two kept 256-wide layers, float32
    assert seen["storage"] == acts > seq.numel() * 4
    ref = torch.autograd.grad(_plain_head(_fft_features(seq), hd).sum(), seq)[0]
    torch.testing.assert_close(seq.grad, ref, rtol=1e-4, atol=1e-6)


def test_plain_head_without_input_gradient():
    x = torch.randn(2, 5, 9, dtype=torch.float64)
    weights = [torch.randn(8, 5, dtype=torch.float64, requires_grad=True),
               torch.randn(3, 8, dtype=torch.float64, requires_grad=True)]
    biases = [torch.randn(8, dtype=torch.float64, requires_grad=True),
              torch.randn(3, dtype=torch.float64, requires_grad=True)]
    out = pixel_mlp(x, weights, biases, chunk=4)
    ref = torch.einsum("nf,bfp->bnp", weights[1], torch.relu(
        torch.einsum("nf,bfp->bnp", weights[0], x) + biases[0][:, None])) + biases[1][:, None]
    torch.testing.assert_close(out, ref)
    for a, b in zip(torch.autograd.grad(out.square().sum(), weights + biases),
                    torch.autograd.grad(ref.square().sum(), weights + biases), strict=True):
        torch.testing.assert_close(a, b)


def test_spectrum_needs_the_dft_matrix():
    with pytest.raises(ValueError, match="dft_matrix"):
        pixel_mlp(torch.zeros(1, 6, 4), [torch.zeros(2, 6)], [torch.zeros(2)],
                  readout=torch.zeros(3, 6), channels=1, spectrum=True)


def _reference_nwm(model, x):
    omega, alpha, y = model.encode(x)
    z, states = torch.zeros_like(y), []
    for _ in range(model.steps):
        coupled = F.conv2d(F.pad(y, (1, 1, 1, 1), mode="circular"), model.coupling)
        z = z + model.dt * (torch.tanh(coupled) - omega * y - alpha * z)
        y = y + model.dt * z
        states.append(y)
    return _plain_head(_fft_features(torch.stack(states, 1)), model.head)


@pytest.mark.parametrize("segment, keep", [(1, True), (4, False)])
def test_nwm_with_fft_readout_matches_plain_autograd(segment, keep):
    # The whole model: roll-out adjoint, spectrum head and the head's input gradient passed
    # to the roll-out in the activations' buffer (strided over images).
    torch.manual_seed(0)
    model = NeuralWaveMachine(2, 2, 3, steps=11, hidden=4, readout="fft", segment=segment,
                              keep_drives=keep).double()
    model.head.chunk = 16
    x = torch.rand(3, 2, 6, 7, dtype=torch.float64)
    params = list(model.parameters())
    out, ref = model(x), _reference_nwm(model, x)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    g = torch.randn_like(ref)
    for a, b in zip(torch.autograd.grad((out * g).sum(), params),
                    torch.autograd.grad((ref * g).sum(), params), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_inference_keeps_one_block_and_gives_the_same_logits():
    seq = torch.randn(3, 10, 2, 5, 7)
    ro = make_readout("fft", 10, 2)
    hd = make_head("mlp256", ro.n_features, 4)
    hd.chunk = 8
    with torch.no_grad():
        out = readout_head(seq, ro, hd)
    assert torch.equal(out, readout_head(seq.requires_grad_(), ro, hd).detach())
