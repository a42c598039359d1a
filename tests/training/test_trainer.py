import json

import pytest
import torch
from _toy_task import ToyRegression  # noqa: F401  (registers the task "_toy_regression")

from wavescope.training.config import TrainConfig
from wavescope.training.trainer import batch_order, evaluate, load_run, read_metrics, train


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
    times = [row["time_s"] for row in read_metrics(cut)]  # training time goes on counting
    assert times == sorted(times) and times[0] > 0
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


def test_extending_a_finished_run_equals_a_longer_run(tmp_path):
    long = read_metrics(train(_config(tmp_path / "a", epochs=4)))
    short = train(_config(tmp_path / "b", epochs=2))
    assert len(read_metrics(short)) == 2
    extended = train(_config(tmp_path / "b", epochs=4))
    assert extended == short  # same folder: epochs are not part of a run's identity
    assert _strip_time(read_metrics(extended)) == _strip_time(long)
