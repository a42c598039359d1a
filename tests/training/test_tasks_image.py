import json

import numpy as np
import pytest
import torch
from test_data import _fake_mnist

from wavescope.cli import main
from wavescope.training.config import TrainConfig
from wavescope.training.tasks import get_task
from wavescope.training.trainer import read_metrics


def _task(name, **kw):
    return get_task(name)(TrainConfig(task=name, **kw))


@pytest.mark.parametrize("name, c_in, n_classes", [("tetrominoes", 3, 6), ("polygons", 1, 7),
                                                   ("mnist", 1, 11), ("fashion_mnist", 1, 11),
                                                   ("multi_mnist", 1, 11)])
def test_every_task_builds_every_model(name, c_in, n_classes):
    for model in ("nwm", "convlstm", "cnn", "unet"):
        net = _task(name, model=model, model_kwargs={"steps": 3} if model in ("nwm", "convlstm")
                    else {}).build_model()
        out = net(torch.rand(1, c_in, 32, 48))
        assert out.shape == (1, n_classes, 32, 48)


def test_task_defaults_follow_the_papers():
    multi = _task("multi_mnist", model="nwm").build_model()
    assert sum(p.numel() for p in multi.parameters()) == 54_855
    assert _task("mnist", model="cnn").build_model().layers == 16
    assert _task("tetrominoes", model="cnn").build_model().layers == 8
    assert _task("tetrominoes", model="convlstm").build_model().steps == 20
    with pytest.raises(ValueError, match="unknown model"):
        _task("tetrominoes", model="transformer").build_model()


def test_fashion_mnist_task_reads_a_given_folder(tmp_path):
    _fake_mnist(tmp_path / "fm", n_train=30, n_test=10)
    task = _task("fashion_mnist", task_kwargs={"data_dir": str(tmp_path / "fm"), "n_val": 5})
    splits = task.datasets(tmp_path)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [25, 5, 10]
    x, m = splits["test"][0]
    assert x.shape == (1, 56, 56) and m.dtype == torch.int64


def test_multi_task_uses_the_budget(tmp_path):
    _fake_mnist(tmp_path / "fm", n_train=30, n_test=10)
    task = _task("multi_fashion_mnist", n_train=6, n_val=2, n_test=2,
                 task_kwargs={"data_dir": str(tmp_path / "fm")})
    splits = task.datasets(tmp_path)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [6, 2, 2]
    assert list(tmp_path.glob("multi_fashion_mnist/multi-fashion_mnist-train-*.npz"))


def test_cli_train_and_evaluate_a_tiny_cnn(tmp_path, capsys):
    args = ["train", "--task", "polygons", "--model", "cnn", "--model-kwargs", '{"layers": 2}',
            "--epochs", "2", "--batch-size", "8", "--n-train", "16", "--n-val", "8",
            "--n-test", "8", "--data-root", str(tmp_path / "d"), "--out-dir",
            str(tmp_path / "r"), "--name", "cnn", "--no-progress"]
    assert main(args) == 0
    rows = read_metrics(tmp_path / "r" / "cnn")
    assert len(rows) == 2
    for key in ("pixel_accuracy", "fg_accuracy", "paper_fg_iou", "miou", "miou_fg",
                "collapsed", "iou_6"):
        assert f"train_{key}" in rows[0] and f"val_{key}" in rows[0]
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "r" / "cnn"), "--split", "val"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["loss"] == pytest.approx(rows[np.argmin([r["val_loss"] for r in rows])]
                                            ["val_loss"], rel=1e-5)
