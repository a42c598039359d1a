import json

import pytest
import torch
from torch import nn

from wavescope.training import tasks
from wavescope.training.config import TrainConfig
from wavescope.training.trainer import batch_order, evaluate, load_run, read_metrics, train


class _Mean(tasks.Meter):
    def __init__(self):
        self.total, self.n = 0.0, 0

    def update(self, output, target, loss):
        self.total += loss * len(target)
        self.n += len(target)

    def compute(self):
        return {"loss": self.total / max(self.n, 1)}


class _Linear(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 1)
        self.drop = nn.Dropout(0.2)  # uses the global RNG: resuming must restore it

    def forward(self, x, return_hidden=False):
        out = self.lin(self.drop(x)).squeeze(-1)
        return (out, x[:, None, :, None]) if return_hidden else out


@tasks.register_task
class ToyRegression(tasks.Task):
    """y = x @ w + noise, for testing the trainer without any real task."""

    name = "_toy_regression"

    def datasets(self, root):
        gen = torch.Generator().manual_seed(123)
        x = torch.randn(100, 3, generator=gen)
        y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(100, generator=gen)
        ds = torch.utils.data.TensorDataset
        return {"train": ds(x[:60], y[:60]), "val": ds(x[60:80], y[60:80]),
                "test": ds(x[80:], y[80:])}

    def build_model(self):
        return _Linear()

    def loss(self, output, target):
        return nn.functional.mse_loss(output, target)

    def meter(self):
        return _Mean()


def _config(tmp_path, **kw):
    base = dict(task="_toy_regression", model="linear", epochs=4, batch_size=16, lr=0.05,
                out_dir=str(tmp_path), progress=False, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def _strip_time(rows):
    return [{k: v for k, v in r.items() if k != "time_s"} for r in rows]


def test_train_writes_run_and_learns(tmp_path):
    run = train(_config(tmp_path, epochs=6))
    rows = read_metrics(run)
    assert len(rows) == 6 and rows[-1]["epoch"] == 6
    assert rows[-1]["val_loss"] < 0.5 * rows[0]["val_loss"]
    assert {"train_loss", "val_loss", "lr", "step"} <= set(rows[0])
    assert (run / "checkpoint_best.pt").exists() and (run / "checkpoint_last.pt").exists()
    test = json.loads((run / "test_metrics.json").read_text())
    assert test == pytest.approx(evaluate(run, "test"))
    config, _, model = load_run(run)
    assert config == TrainConfig.load(run)


def test_same_config_same_numbers(tmp_path):
    a = read_metrics(train(_config(tmp_path, name="a")))
    b = read_metrics(train(_config(tmp_path, name="b")))
    assert _strip_time(a) == _strip_time(b)


@pytest.mark.parametrize("eval_every", [None, 3])
def test_resume_after_interrupt_matches_uninterrupted(tmp_path, eval_every):
    full = train(_config(tmp_path, name="full", eval_every_steps=eval_every))

    class Interrupt(Exception):
        pass

    def crash(row):
        if row["step"] >= 6:
            raise Interrupt

    cfg = _config(tmp_path, name="cut", eval_every_steps=eval_every)
    with pytest.raises(Interrupt):
        train(cfg, callback=crash)
    assert not (tmp_path / "cut" / "test_metrics.json").exists()
    cut = train(cfg)
    assert _strip_time(read_metrics(cut)) == _strip_time(read_metrics(full))
    wa = torch.load(full / "checkpoint_last.pt", weights_only=False)["model"]
    wb = torch.load(cut / "checkpoint_last.pt", weights_only=False)["model"]
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=0)


def test_step_mode_and_max_steps(tmp_path):
    run = train(_config(tmp_path, eval_every_steps=5, max_steps=12, epochs=100))
    rows = read_metrics(run)
    assert [r["step"] for r in rows] == [5, 10, 12]
    assert rows[-1]["epoch"] == pytest.approx(12 / 4)


def test_lr_step_schedule(tmp_path):
    rows = read_metrics(train(_config(tmp_path, lr_decay_epoch=2, lr_decay_factor=0.5)))
    assert [r["lr"] for r in rows] == [0.05, 0.05, 0.025, 0.025]


def test_other_config_in_same_folder_is_refused(tmp_path):
    train(_config(tmp_path, name="x", epochs=1))
    with pytest.raises(ValueError, match="different config"):
        train(_config(tmp_path, name="x", epochs=1, lr=0.01))


def test_batch_order_is_a_seeded_partition():
    a = batch_order(10, 4, seed=1, epoch=0)
    assert [len(b) for b in a] == [4, 4, 2]
    assert sorted(sum(a, [])) == list(range(10))
    assert a == batch_order(10, 4, seed=1, epoch=0)
    assert a != batch_order(10, 4, seed=1, epoch=1)


def test_config_json_and_flags_round_trip(tmp_path):
    cfg = _config(tmp_path, model_kwargs={"channels": 4}, n_train=None)
    path = cfg.save(tmp_path / "c.json")
    assert TrainConfig.load(path) == cfg
    flags = ["--config", str(path), "--lr", "0.1", "--model-kwargs", '{"channels": 8}',
             "--no-progress", "--n-val", "7", "--max-steps", "none"]
    got = TrainConfig.from_args(flags)
    assert got.lr == 0.1 and got.model_kwargs == {"channels": 8} and got.n_val == 7
    assert got.task == cfg.task and got.progress is False and got.max_steps is None


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="unknown config keys"):
        TrainConfig.from_dict({"epochz": 3})
