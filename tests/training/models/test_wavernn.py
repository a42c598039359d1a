"""Wave-RNN: initialisations, exactness of the hand-written recurrence, parameter counts."""

import copy
import pickle

import pytest
import torch
from torch import nn

from wavescope.training.models import wavernn
from wavescope.training.models.wavernn import WaveRNN


def _pulse(batch, steps, n_in, value=1.0):
    """Inputs that are zero except ``value`` on every input dimension at step 0."""
    x = torch.zeros(batch, steps, n_in)
    x[:, 0] = value
    return x


def _autograd_reference(model: WaveRNN, x: torch.Tensor) -> torch.Tensor:
    """The recurrence written the plain way: torch's circular Conv1d, one step at a time."""
    batch = x.shape[0]
    h = torch.zeros(batch, model.channels * model.n, dtype=x.dtype)
    states = []
    for t in range(x.shape[1]):
        conv = model.recurrent(h.view(batch, model.channels, model.n)).flatten(1)
        h = torch.relu(model.input(x[:, t]) + conv)
        states.append(h)
    return torch.stack(states, 1).view(batch, x.shape[1], model.channels, model.n)


def test_shift_init_moves_one_unit_per_step_around_the_ring():
    n, channels, steps = 7, 3, 20  # more steps than units: the pulse wraps around twice
    model = WaveRNN(2, 1, n=n, channels=channels)
    with torch.no_grad():
        _, hidden = model(_pulse(1, steps, 2), return_hidden=True)
    expected = torch.zeros(steps, channels, n)
    for t in range(steps):
        expected[t, :, t % n] = 2.0  # unit 0 got 1 + 1 from the two inputs at t = 0
    assert torch.equal(hidden[0], expected)


def test_shift_kernel_is_a_one_tap_shift_per_channel():
    model = WaveRNN(1, 1, n=8, channels=4)
    w = model.recurrent.weight
    assert torch.count_nonzero(w) == 4
    for c in range(4):
        assert w[c, c, 0] == 1.0  # tap 0 reads unit i - 1: activity moves to i + 1


def test_identity_init_keeps_the_pulse_in_place():
    model = WaveRNN(1, 1, n=6, channels=2, recurrent_init="identity")
    with torch.no_grad():
        _, hidden = model(_pulse(1, 9, 1), return_hidden=True)
    assert torch.equal(hidden[0, :, :, 0], torch.ones(9, 2))
    assert torch.count_nonzero(hidden[0, :, :, 1:]) == 0


def test_input_init_feeds_unit_zero_of_each_channel_only():
    n, channels, n_in = 5, 4, 3
    model = WaveRNN(n_in, 2, n=n, channels=channels)
    weight = model.input.weight.view(channels, n, n_in)
    assert torch.equal(weight[:, 0], torch.ones(channels, n_in))
    assert torch.count_nonzero(weight[:, 1:]) == 0
    assert torch.count_nonzero(model.input.bias) == 0
    x = torch.rand(2, 1, n_in)
    with torch.no_grad():
        _, hidden = model(x, return_hidden=True)
    assert torch.allclose(hidden[:, 0, :, 0], x[:, 0].sum(1, keepdim=True).expand(2, channels))
    assert torch.count_nonzero(hidden[:, 0, :, 1:]) == 0


def test_without_input_init_the_input_weights_are_small_and_dense():
    torch.manual_seed(0)
    model = WaveRNN(1, 1, n=50, channels=4, input_init=False)
    weight = model.input.weight
    assert torch.count_nonzero(weight) == weight.numel()
    assert 0.0005 < weight.std() < 0.002


@pytest.mark.parametrize("conv_bias", [False, True])
@pytest.mark.parametrize("per_step", [False, True])
def test_recurrence_matches_plain_autograd(conv_bias, per_step):
    torch.manual_seed(1)
    model = WaveRNN(
        3, 4, n=7, channels=3, recurrent_init="random", input_init=False,
        conv_bias=conv_bias, per_step=per_step,
    ).double()
    with torch.no_grad():
        model.input.weight.normal_()
        model.input.bias.normal_(0, 0.3)
    x = torch.randn(5, 11, 3, dtype=torch.float64, requires_grad=True)
    out, hidden = model(x, return_hidden=True)
    ref_hidden = _autograd_reference(model, x)
    ref_out = model.readout(ref_hidden.flatten(2) if per_step else ref_hidden[:, -1].flatten(1))
    torch.testing.assert_close(hidden, ref_hidden, rtol=0, atol=1e-12)
    torch.testing.assert_close(out, ref_out, rtol=0, atol=1e-12)
    weights = torch.randn_like(out)
    inputs = [x, *model.parameters()]
    got = torch.autograd.grad((out * weights).sum(), inputs)
    want = torch.autograd.grad((ref_out * weights).sum(), inputs)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)


def test_hidden_state_gradient_flows_through_returned_states():
    torch.manual_seed(2)
    model = WaveRNN(2, 1, n=6, channels=2, recurrent_init="random", input_init=False).double()
    x = torch.randn(3, 5, 2, dtype=torch.float64)
    _, hidden = model(x, return_hidden=True)
    ref = _autograd_reference(model, x)
    weights = torch.randn_like(hidden)
    got = torch.autograd.grad((hidden * weights).sum(), list(model.parameters())[:3])
    want = torch.autograd.grad((ref * weights).sum(), list(model.parameters())[:3])
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("pooled", "block"), [(False, 8), (True, 4), (False, 1)])
@pytest.mark.parametrize("kernel_size", [1, 3, 5])
def test_gradcheck_of_the_recurrence(kernel_size, pooled, block, monkeypatch):
    monkeypatch.setattr(wavernn, "_BLOCK", block)  # 6 steps: one block, 4 + 2, or 6 of 1
    torch.manual_seed(3)
    d = dict(dtype=torch.float64, requires_grad=True)
    x = torch.randn(2, 6, 2, **d)
    V = torch.randn(3 * 6, 2, **d)
    b = torch.randn(3 * 6, **d)
    u = (0.5 * torch.randn(3, 3, kernel_size, dtype=torch.float64)).requires_grad_()
    ub = torch.randn(3, **d)
    pool = wavernn.StatePool() if pooled else None

    def recurrence(*args):  # the states, and the last state on its own
        return wavernn._WaveRecurrence.apply(*args, pool)

    assert torch.autograd.gradcheck(recurrence, (x, V, b, u, ub))
    # Without the optional biases, and with a loss on the states only.
    assert torch.autograd.gradcheck(lambda x, V, u: recurrence(x, V, None, u, None)[0],
                                    (x, V, u))


def test_float32_steps_match_the_plain_loop_at_paper_size():
    # The oneDNN convolutions sum in another order than torch's Conv1d: float tolerance.
    torch.manual_seed(4)
    model = WaveRNN(1, 10, n=64, channels=16, conv_bias=True, readout="mlp",
                    recurrent_init="random")
    x = torch.rand(8, 40, 1)
    y = torch.randint(0, 10, (8,))
    loss = nn.functional.cross_entropy(model(x), y)
    got = torch.autograd.grad(loss, list(model.parameters()))
    ref_out = model.readout(_autograd_reference(model, x)[:, -1].flatten(1))
    want = torch.autograd.grad(nn.functional.cross_entropy(ref_out, y),
                               list(model.parameters()))
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-6)


def test_pooled_buffer_is_reused_and_never_shared():
    torch.manual_seed(5)
    model = WaveRNN(1, 3, n=16, channels=2, recurrent_init="random")
    x = torch.rand(4, 30, 1)
    fresh = copy.deepcopy(model)
    fresh._pool = wavernn.StatePool()
    first = model(x).sum()
    second = model(2 * x).sum()  # in flight together: two buffers
    grads = torch.autograd.grad(first + second, list(model.parameters()))
    want = torch.autograd.grad(fresh(x).sum() + fresh(2 * x).sum(), list(fresh.parameters()))
    for g, w in zip(grads, want, strict=True):
        assert torch.equal(g, w)
    kept = model._pool._flat
    assert kept is not None
    loss = model(x).sum()
    assert model._pool._flat is None  # handed out again, not copied
    loss.backward()
    assert model._pool._flat.data_ptr() == kept.data_ptr()
    # A graph kept for a second backward whose buffer was reused meanwhile fails loudly.
    loss = model(x).sum()
    loss.backward(retain_graph=True)
    model(x).sum().backward()
    with pytest.raises(RuntimeError, match="inplace"):
        loss.backward()
    # The states a caller asked for are never pooled; copies and pickles start empty.
    model(x, return_hidden=True)[0].sum().backward()
    assert model._pool._flat.data_ptr() == kept.data_ptr()
    assert copy.deepcopy(model)._pool._flat is None
    assert pickle.loads(pickle.dumps(model))._pool._flat is None
    with torch.no_grad():  # nothing to back-propagate: the buffer goes back at once
        model(x)
    assert model._pool._flat.data_ptr() == kept.data_ptr()


def test_mlp_readout_and_output_shapes():
    model = WaveRNN(1, 10, n=16, channels=2, readout="mlp", mlp_hidden=12)
    assert isinstance(model.readout, nn.Sequential)
    assert model.readout[0].out_features == 12
    out, hidden = model(torch.rand(4, 9, 1), return_hidden=True)
    assert out.shape == (4, 10)
    assert hidden.shape == (4, 9, 2, 16)
    per_step = WaveRNN(10, 10, n=16, channels=2, per_step=True)
    assert per_step(torch.rand(4, 9, 10)).shape == (4, 9, 10)


def _count(model):
    return sum(p.numel() for p in model.parameters())


# Published sizes (Keller et al. 2024) and the bias convention that reproduces each.
@pytest.mark.parametrize(
    ("args", "kwargs", "count", "published"),
    [
        ((2, 1, 100, 27), dict(bias=False), 10_288, "10.29k"),  # adding
        ((96, 10, 256, 16), dict(bias=False), 434_954, "435k"),  # noisy sCIFAR-10
        ((1, 10, 256, 16), dict(bias=True, readout="mlp"), 419_670, "420k"),  # wRNN + MLP
    ],
)
def test_parameter_counts_match_the_paper(args, kwargs, count, published):
    model = WaveRNN(*args, **kwargs)
    assert _count(model) == count
    digits = published.rstrip("k")
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    assert f"{count / 1000:.{decimals}f}" == digits


def test_parameter_count_formula_with_both_biases():
    n, channels, n_in, n_out = 100, 27, 2, 1
    model = WaveRNN(n_in, n_out, n, channels, bias=True, conv_bias=True)
    N = n * channels
    assert _count(model) == N * n_in + N + channels**2 * 3 + channels + N * n_out + n_out


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(kernel_size=4), "odd"),
        (dict(kernel_size=1), "kernel_size >= 3"),
        (dict(n=2), "shorter than the kernel"),
        (dict(recurrent_init="fwd"), "recurrent_init"),
        (dict(readout="fft"), "readout"),
        (dict(channels=0), "channels"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WaveRNN(1, 1, **kwargs)


def test_bad_input_is_named():
    model = WaveRNN(2, 1, n=8, channels=2)
    with pytest.raises(ValueError, match=r"\(batch, time, 2\)"):
        model(torch.rand(3, 5))
    with pytest.raises(TypeError, match="floating-point"):
        model(torch.ones(3, 5, 2, dtype=torch.long))
    with pytest.raises(TypeError, match="float64"):
        model(torch.ones(3, 5, 2, dtype=torch.float64))
