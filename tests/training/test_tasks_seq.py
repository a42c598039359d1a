"""Sequence tasks through the shared trainer: data, losses, meters, stored artefacts."""

import json

import numpy as np
import pytest
import torch

from tests.training.data.test_cifar import _write_batches
from wavescope.training.config import TrainConfig
from wavescope.training.data.mnist import write_idx
from wavescope.training.data.sequences import cifar_noise, seeded_permutation
from wavescope.training.tasks import get_task
from wavescope.training.tasks_seq import CopyMeter, MSEMeter, solved_step
from wavescope.training.trainer import read_metrics, train


def write_mnist_folder(folder, n_train=12, n_test=5, seed=0):
    """Small random MNIST-format files (two of them gzipped)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / "train-images-idx3-ubyte", rng.integers(0, 256, (n_train, 28, 28),
                                                               dtype=np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, n_train, dtype=np.uint8))
    write_idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (n_test, 28, 28),
                                                              dtype=np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, n_test, dtype=np.uint8))


def _config(tmp_path, **kw):
    base = dict(out_dir=str(tmp_path / "runs"), data_root=str(tmp_path / "data"),
                progress=False, batch_size=8, epochs=1)
    return TrainConfig(**{**base, **kw})


def test_adding_splits_are_fixed_disjoint_and_seeded(tmp_path):
    cfg = _config(tmp_path, task="adding", model="wavernn", task_kwargs={"T": 12}, n_train=64,
                  n_val=50, n_test=60)
    splits = get_task("adding")(cfg).datasets(tmp_path)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [64, 50, 60]
    keys = {s: splits[s].keys() for s in splits}
    assert len(keys["test"]) == 60 and len(keys["val"]) == 50
    assert not keys["train"] & keys["test"] and not keys["train"] & keys["val"]
    assert not keys["val"] & keys["test"]
    other_seed = get_task("adding")(cfg.replace(seed=1)).datasets(tmp_path)
    assert torch.equal(other_seed["test"][3][0], splits["test"][3][0])  # same test set
    assert not torch.equal(other_seed["train"][3][0], splits["train"][3][0])  # new stream
    x, y = splits["test"][0]
    assert x.shape == (12, 2) and y.shape == (1,)


def test_copy_splits_exclude_each_other_even_when_collisions_are_likely(tmp_path):
    # T = 0 and 10 symbols from 8: still 8**10 instances; make collisions certain by asking
    # for more training items than a tiny held-out set could avoid by chance.
    cfg = _config(tmp_path, task="copy", model="irnn", task_kwargs={"T": 0}, n_train=300,
                  n_val=20, n_test=20)
    splits = get_task("copy")(cfg).datasets(tmp_path)
    held_out = splits["test"].keys() | splits["val"].keys()
    assert not splits["train"].keys() & held_out
    x, y = splits["train"][0]
    assert x.shape == (20, 10) and y.shape == (20,)


def test_meters_compute_their_definitions():
    mse = MSEMeter()
    mse.update(torch.tensor([[1.0], [2.0]]), torch.tensor([[0.0], [0.0]]), 2.5)
    mse.update(torch.tensor([[3.0]]), torch.tensor([[1.0]]), 4.0)
    assert mse.compute() == {"loss": pytest.approx(3.0), "mse": pytest.approx(3.0)}

    copy = CopyMeter(memory=2)
    logits = torch.full((1, 4, 3), -1e4)
    logits[0, torch.arange(4), torch.tensor([0, 0, 2, 1])] = 0.0  # confident predictions
    target = torch.tensor([[0, 1, 2, 0]])
    copy.update(logits, target, 0.0)
    result = copy.compute()
    assert result["accuracy"] == pytest.approx(0.5)
    assert result["recall_accuracy"] == pytest.approx(0.5)
    assert result["cross_entropy"] == pytest.approx(2e4 / 4, rel=1e-4)  # two steps wrong by 1e4


@pytest.mark.parametrize(
    ("model", "kwargs"),
    [("wavernn", {"n": 6, "channels": 2}), ("irnn", {"hidden": 12}), ("lstm", {"hidden": 8}),
     ("gru", {"hidden": 8})],
)
def test_every_sequence_model_trains_on_adding(tmp_path, model, kwargs):
    torch.manual_seed(0)
    cfg = _config(tmp_path, task="adding", model=model, model_kwargs=kwargs,
                  task_kwargs={"T": 6}, n_train=64, n_val=16, n_test=24, max_steps=6,
                  eval_every_steps=3, eval_test=True)
    run = train(cfg)
    rows = read_metrics(run)
    assert [r["step"] for r in rows] == [3, 6]
    assert all(np.isfinite(r["test_mse"]) and np.isfinite(r["val_mse"]) for r in rows)
    test = json.loads((run / "test_metrics.json").read_text())
    assert set(test) == {"loss", "mse"}


def test_copy_trains_with_per_step_readout(tmp_path):
    cfg = _config(tmp_path, task="copy", model="wavernn", model_kwargs={"n": 8, "channels": 2},
                  task_kwargs={"T": 3}, n_train=32, n_val=8, n_test=8, max_steps=2)
    run = train(cfg)
    row = read_metrics(run)[-1]
    # Untrained predictions over 10 classes: cross-entropy near log(10).
    assert 0.5 < row["val_cross_entropy"] < 5
    assert 0 <= row["val_recall_accuracy"] <= 1


def test_solved_step_reads_the_first_row_under_the_threshold():
    rows = [{"step": 10, "test_mse": 0.2}, {"step": 20, "test_mse": 0.04},
            {"step": 30, "test_mse": 0.01}]
    assert solved_step(rows) == 20
    assert solved_step(rows[:1]) is None


@pytest.mark.parametrize("task", ["smnist", "psmnist", "fashion_smnist", "fashion_psmnist"])
def test_sequential_images_from_an_mnist_format_folder(tmp_path, task):
    write_mnist_folder(tmp_path / "fmnist", n_train=12, n_test=5)
    kwargs = {"data_dir": str(tmp_path / "fmnist"), "n_val_split": 3}
    cfg = _config(tmp_path, task=task, model="irnn", model_kwargs={"hidden": 4},
                  task_kwargs=kwargs)
    splits = get_task(task)(cfg).datasets(tmp_path)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [9, 3, 5]
    x, y = splits["train"][0]
    assert x.shape == (784, 1) and 0 <= float(x.min()) and float(x.max()) <= 1
    stored = cfg.run_dir() / "permutation.npy"
    permuted = task.endswith("psmnist")
    assert stored.exists() == permuted
    if permuted:
        assert np.array_equal(np.load(stored), seeded_permutation(784, 0))
        other = cfg.replace(task_kwargs={**kwargs, "perm_seed": 1})
        other_split = get_task(task)(other).datasets(tmp_path)
        assert not torch.equal(other_split["test"][0][0], splits["test"][0][0])


def test_a_stored_permutation_is_never_silently_replaced(tmp_path):
    write_mnist_folder(tmp_path / "m")
    cfg = _config(tmp_path, task="psmnist", model="irnn", name="fixed",
                  task_kwargs={"data_dir": str(tmp_path / "m"), "n_val_split": 2})
    get_task("psmnist")(cfg).datasets(tmp_path)
    changed = cfg.replace(task_kwargs={**cfg.task_kwargs, "perm_seed": 5})
    with pytest.raises(ValueError, match="differs"):
        get_task("psmnist")(changed).datasets(tmp_path)


def test_noisy_cifar_task_from_small_files(tmp_path):
    _write_batches(tmp_path / "cifar", per_batch=3)
    cfg = _config(tmp_path, task="noisy_scifar10", model="wavernn",
                  model_kwargs={"n": 4, "channels": 2},
                  task_kwargs={"data_dir": str(tmp_path / "cifar"), "n_val_split": 5,
                               "noise_seed": 2})
    task = get_task("noisy_scifar10")(cfg)
    splits = task.datasets(tmp_path)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [10, 5, 3]
    assert np.array_equal(np.load(cfg.run_dir() / "noise.npy"), cifar_noise(2))
    x, _ = splits["val"][1]
    assert x.shape == (1000, 96)
    model = task.build_model()
    assert model(x[None, :40]).shape == (1, 10)


def test_unknown_options_and_models_are_named(tmp_path):
    with pytest.raises(ValueError, match="no options"):
        get_task("adding")(_config(tmp_path, task="adding", task_kwargs={"length": 5}))
    task = get_task("adding")(_config(tmp_path, task="adding", model="nwm"))
    with pytest.raises(ValueError, match="not a sequence model"):
        task.build_model()
