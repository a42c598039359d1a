"""iRNN and its ablations, and the LSTM/GRU baselines."""

import pytest
import torch

from wavescope.training.models.gated import GatedRNN
from wavescope.training.models.irnn import IRNN


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
