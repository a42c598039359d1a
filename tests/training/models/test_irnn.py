"""iRNN and its ablations, and the LSTM/GRU baselines."""

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from wavescope.training.models import irnn
from wavescope.training.models.gated import GatedRNN
from wavescope.training.models.irnn import IRNN
from wavescope.training.models.wavernn import WaveRNN


def _count(model):
    return sum(p.numel() for p in model.parameters())


def test_identity_init():
    model = IRNN(2, 1, hidden=12)
    assert torch.equal(model.recurrent.weight, torch.eye(12))
    assert torch.count_nonzero(model.input.bias) == 0


def test_dense_shift_init_moves_one_unit_per_step_within_each_ring():
    n, channels, steps = 5, 3, 12
    model = IRNN(1, 1, hidden=n * channels, channels=channels, recurrent_init="shift",
                 input_init=True)
    x = torch.zeros(1, steps, 1)
    x[:, 0] = 1.0
    with torch.no_grad():
        _, hidden = model(x, return_hidden=True)
    assert hidden.shape == (1, steps, channels, n)
    expected = torch.zeros(steps, channels, n)
    for t in range(steps):
        expected[t, :, t % n] = 1.0
    assert torch.equal(hidden[0], expected)


def test_input_init_feeds_unit_zero_of_each_ring():
    model = IRNN(3, 1, hidden=8, channels=2, input_init=True)
    weight = model.input.weight.view(2, 4, 3)
    assert torch.equal(weight[:, 0], torch.ones(2, 3))
    assert torch.count_nonzero(weight[:, 1:]) == 0


def test_forward_matches_the_textbook_recurrence():
    torch.manual_seed(0)
    model = IRNN(3, 2, hidden=6, recurrent_init="random").double()
    x = torch.randn(4, 7, 3, dtype=torch.float64)
    h = torch.zeros(4, 6, dtype=torch.float64)
    for t in range(7):
        h = torch.relu(model.input(x[:, t]) + h @ model.recurrent.weight.T)
    out, hidden = model(x, return_hidden=True)
    torch.testing.assert_close(hidden[:, -1, 0], h)
    torch.testing.assert_close(out, model.readout(h))


def _loop_reference(model: IRNN, x: torch.Tensor):
    """The recurrence as the plain autograd loop that IRNN ran before its own backward.

    Returns the readout output and the states (batch, time, N).
    """
    drive = model.input(x)
    u = model.recurrent.weight
    h = F.relu(drive[:, 0])
    states = [h]
    for t in range(1, x.shape[1]):
        h = F.relu(torch.addmm(drive[:, t], h, u.T))
        states.append(h)
    states = torch.stack(states, 1)
    return model.readout(states if model.per_step else h), states


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"channels": 3, "recurrent_init": "shift", "input_init": True},
        {"recurrent_init": "random", "bias": False},
        {"per_step": True, "readout": "mlp"},
    ],
)
def test_outputs_bit_identical_and_gradients_equal_to_the_plain_loop(kwargs):
    torch.manual_seed(0)
    model = IRNN(4, 3, hidden=12, **kwargs)
    # Inputs drawn so that many pre-activations are negative: the ReLU masks matter.
    x = torch.randn(5, 37, 4, generator=torch.Generator().manual_seed(1)).requires_grad_()
    target = torch.randn(5, 37, 3) if model.per_step else torch.randn(5, 3)

    def run(forward):
        out, hidden = forward()
        # A loss on both the output and every state, so both gradient paths are exercised.
        loss = (out * target).sum() + hidden.square().mean()
        grads = torch.autograd.grad(loss, [x, *model.parameters()])
        return out.detach(), hidden.detach(), grads

    out, hidden, grads = run(lambda: model(x, return_hidden=True))
    ref_out, ref_hidden, ref_grads = run(lambda: _loop_reference(model, x))
    assert torch.equal(out, ref_out)
    assert torch.equal(hidden.flatten(2), ref_hidden)
    assert 0.05 < float((ref_hidden > 0).float().mean()) < 0.95
    for grad, ref in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(grad, ref, rtol=1e-5, atol=1e-6)


def test_gradcheck_of_the_recurrence(monkeypatch):
    gen = torch.Generator().manual_seed(2)
    args = [torch.randn(shape, generator=gen, dtype=torch.float64, requires_grad=True)
            for shape in [(2, 20, 2), (4, 2), (4,), (4, 4)]]
    monkeypatch.setattr(irnn, "_BLOCK", 8)  # blocks of 8, 8 and 4 steps
    assert torch.autograd.gradcheck(irnn._DenseRecurrence.apply, args)
    assert torch.autograd.gradcheck(
        lambda x, V, u: irnn._DenseRecurrence.apply(x, V, None, u), [args[0], args[1], args[3]])


class _FreshBytes(TorchDispatchMode):
    """Count the bytes of every tensor an op returns that is not a view of, or written
    into, one that existed (the op schema's alias information)."""

    def __init__(self):
        super().__init__()
        self.bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        results = out if isinstance(out, (tuple, list)) else (out,)
        for spec, value in zip(func._schema.returns, results, strict=False):
            if isinstance(value, torch.Tensor) and spec.alias_info is None:
                self.bytes += value.numel() * value.element_size()
        return out


def _backward_bytes(model, steps, batch=3):
    x = torch.rand(batch, steps, model.n_in, generator=torch.Generator().manual_seed(0))
    loss = model(x).square().sum()
    with _FreshBytes() as counter:
        loss.backward()
    return counter.bytes


def _full_buffer_loop(x, V, b, u):
    """The old IRNN loop, which indexes a (batch, time, N) drive at each step."""
    drive = F.linear(x, V, b)
    h = F.relu(drive[:, 0])
    states = [h]
    for t in range(1, x.shape[1]):
        h = F.relu(torch.addmm(drive[:, t], h, u.T))
        states.append(h)
    states = torch.stack(states)
    return states, h


@pytest.mark.parametrize(
    "build",
    [
        lambda: IRNN(2, 1, hidden=8),
        lambda: GatedRNN(2, 1, hidden=8, cell="lstm"),
        lambda: GatedRNN(2, 1, hidden=8, cell="gru"),
        lambda: WaveRNN(2, 1, n=4, channels=2),
    ],
    ids=["irnn", "lstm", "gru", "wavernn"],
)
def test_backward_allocates_per_step_the_size_of_one_state(build, monkeypatch):
    """Each extra step costs the backward O(batch x N) bytes, not O(batch x time x N)."""
    model = build()
    batch, hidden = 3, 8
    short, long = 16, 400
    state = batch * (hidden + model.n_in) * 4  # one step's state and input, float32

    def per_step():
        return (_backward_bytes(model, long, batch) - _backward_bytes(model, short, batch)) / (
            long - short)

    # Here the iRNN and wRNN allocate under one state per step, torch's LSTM one and its
    # GRU 32; zero-filling a (batch, time, N) gradient at every step costs about 670.
    assert per_step() <= 64 * state
    if isinstance(model, IRNN):  # the guard catches the full-buffer pattern
        monkeypatch.setattr(irnn._DenseRecurrence, "apply", _full_buffer_loop)
        assert per_step() > 64 * state


# Published iRNN sizes (Keller et al. 2024) are reproduced without the hidden bias b.
@pytest.mark.parametrize(
    ("args", "count", "published"),
    [
        ((10, 10, 100), 12_010, "12k"),  # copy
        ((10, 10, 625), 403_135, "403k"),  # copy, wide
        ((2, 1, 100), 10_301, "10.3k"),  # adding
        ((1, 10, 256), 68_362, "68k"),  # sMNIST
        ((96, 10, 529), 335_925, "336k"),  # noisy sCIFAR-10
    ],
)
def test_parameter_counts_match_the_paper(args, count, published):
    model = IRNN(*args, bias=False)
    assert _count(model) == count
    digits = published.rstrip("k")
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    assert f"{count / 1000:.{decimals}f}" == digits
    assert _count(IRNN(*args, bias=True)) == count + args[2]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_baselines(cell):
    model = GatedRNN(3, 5, hidden=8, cell=cell)
    gates = 4 if cell == "lstm" else 3
    assert _count(model) == gates * (3 * 8 + 8 * 8 + 2 * 8) + 8 * 5 + 5
    out, hidden = model(torch.rand(2, 6, 3), return_hidden=True)
    assert out.shape == (2, 5) and hidden.shape == (2, 6, 1, 8)
    torch.testing.assert_close(out, model.readout(hidden[:, -1, 0]))
    per_step = GatedRNN(3, 5, hidden=8, cell=cell, per_step=True)
    assert per_step(torch.rand(2, 6, 3)).shape == (2, 6, 5)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="equal rings"):
        IRNN(1, 1, hidden=10, channels=3)
    with pytest.raises(ValueError, match="recurrent_init"):
        IRNN(1, 1, recurrent_init="eye")
    with pytest.raises(ValueError, match="cell"):
        GatedRNN(1, 1, cell="rnn")
