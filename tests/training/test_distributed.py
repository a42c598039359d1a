"""Data-parallel training (gloo on CPU) against one process; devices and bf16 autocast."""

import functools

import pytest
import torch
from _toy_task import ToyRegression  # noqa: F401  (registers the task "_toy_regression")

from wavescope.cli import main
from wavescope.training import distributed
from wavescope.training.config import TrainConfig
from wavescope.training.distributed import Ranks, _interleave
from wavescope.training.trainer import read_metrics, train

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(),
                                reason="torch built without torch.distributed")


@pytest.fixture(scope="module", autouse=True)
def _fast_start():
    # A forkserver that has imported torch (and torch._dynamo, which Adam imports on first
    # use) starts each process in a fraction of a second instead of seconds.
    torch.multiprocessing.set_forkserver_preload(["torch._dynamo", "_toy_task",
                                                  "wavescope.training.trainer"])
    yield
    torch.multiprocessing.set_forkserver_preload([])


def launch(config, nproc):
    return distributed.launch(config, nproc, start_method="forkserver")


def _config(tmp_path, **kw):
    # 57 items in batches of 7: eight batches split 4 + 3 between two ranks, and a last
    # batch of one item, for which rank 1 computes a stand-in of weight 0.
    base = dict(task="_toy_regression", model="linear", epochs=2, batch_size=7, lr=0.05,
                n_train=57, out_dir=str(tmp_path), progress=False, seed=3,
                task_kwargs={"dropout": 0.0})
    base.update(kw)
    return TrainConfig(**base)


def _weights(run, name="checkpoint_last.pt"):
    return torch.load(run / name, weights_only=True)


def test_two_processes_give_the_weights_of_one(tmp_path):
    one = train(_config(tmp_path, name="one"))
    two = launch(_config(tmp_path, name="two"), nproc=2)
    a, b = _weights(one), _weights(two)
    assert b["step"] == a["step"] == 2 * 9
    for key in a["model"]:
        torch.testing.assert_close(b["model"][key], a["model"][key], rtol=1e-5, atol=1e-6)
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values(),
                      strict=True):  # Adam's moments too: the same global gradients
        torch.testing.assert_close(sb["exp_avg_sq"], sa["exp_avg_sq"], rtol=1e-4, atol=1e-9)
    rows_a, rows_b = read_metrics(one), read_metrics(two)
    for ra, rb in zip(rows_a, rows_b, strict=True):  # rank 0 scores the whole batch
        for key in ("train_loss", "val_loss"):
            assert rb[key] == pytest.approx(ra[key], rel=1e-5)
    assert (two / "test_metrics.json").exists() and not list(two.glob(".*.tmp"))
    assert len(b["rng_ranks"]) == 2  # every rank's random state, for an exact resume
    # A one-process run stopped after 5 steps and resumed on two processes ends there too.
    train(_config(tmp_path, name="mixed", max_steps=5))
    mixed = _weights(launch(_config(tmp_path, name="mixed"), nproc=2))
    assert mixed["step"] == a["step"] and len(read_metrics(tmp_path / "mixed")) == 3
    for key in a["model"]:
        torch.testing.assert_close(mixed["model"][key], a["model"][key], rtol=1e-5, atol=1e-6)


def test_two_process_resume_is_exact_with_per_rank_dropout(tmp_path, monkeypatch):
    # Dropout draws differ between ranks; stopping after 5 steps and extending the run
    # (through the CLI's --nproc) must end where the uninterrupted 2-process run ends.
    full = launch(_config(tmp_path, name="full", task_kwargs={}), nproc=2)
    monkeypatch.setattr(distributed, "launch", functools.partial(
        distributed.launch, start_method="forkserver"))
    flags = ["train", "--task", "_toy_regression", "--model", "linear", "--epochs", "2",
             "--batch-size", "7", "--lr", "0.05", "--n-train", "57", "--seed", "3",
             "--out-dir", str(tmp_path), "--name", "cut", "--no-progress", "--nproc", "2"]
    assert main(flags + ["--max-steps", "5"]) == 0
    assert _weights(tmp_path / "cut")["step"] == 5
    assert main(flags) == 0
    a, b = _weights(full), _weights(tmp_path / "cut")
    for key in a["model"]:
        torch.testing.assert_close(b["model"][key], a["model"][key], rtol=0, atol=0)
    rng = a["rng_ranks"]
    assert not torch.equal(rng[0]["torch"], rng[1]["torch"])  # ranks draw their own masks


def test_a_failing_process_raises_its_error_here(tmp_path):
    train(_config(tmp_path, name="x", epochs=1))
    with pytest.raises(ValueError, match="different config"):
        launch(_config(tmp_path, name="x", epochs=1, lr=0.01), nproc=2)


def test_shards_and_interleave_undo_each_other():
    batch = list(range(10, 17))
    ranks = [Ranks(r, 3) for r in range(3)]
    shards = [r.shard(batch) for r in ranks]
    assert [s for s, _ in shards] == [[10, 13, 16], [11, 14], [12, 15]]
    assert sum(w for _, w in shards) == pytest.approx(1.0)
    assert Ranks(2, 3).shard([5, 6]) == ([5], 0.0)  # a stand-in, weight 0
    data = torch.arange(7.0)[:, None] * torch.ones(1, 2)
    got = _interleave([data[r::3] for r in range(3)], 3)
    torch.testing.assert_close(got, data)
    with pytest.raises(ValueError, match="nproc"):
        launch(_config("unused"), nproc=0)


def _bf16_cpu_ok() -> bool:
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return torch.ones(2, 2) @ torch.ones(2, 2) is not None
    except RuntimeError:
        return False


@pytest.mark.skipif(not _bf16_cpu_ok(), reason="no bf16 autocast on this CPU")
def test_bf16_training_stays_near_float32(tmp_path):
    f32 = read_metrics(train(_config(tmp_path, name="f32", epochs=3)))
    bf16 = read_metrics(train(_config(tmp_path, name="bf16", epochs=3, precision="bf16")))
    for ra, rb in zip(f32, bf16, strict=True):
        assert rb["val_loss"] == pytest.approx(ra["val_loss"], rel=0.05)
    assert bf16[-1]["val_loss"] < 0.5 * bf16[0]["val_loss"]  # and it learns


@pytest.mark.skipif(not _bf16_cpu_ok(), reason="no bf16 autocast on this CPU")
def test_nwm_adjoints_under_bf16_autocast():
    # The hand-written roll-out and readout kernels run in float32 under autocast (their
    # buffers have one dtype); the encoders run in bf16.
    from wavescope.training.models.nwm import NeuralWaveMachine

    torch.manual_seed(0)
    model = NeuralWaveMachine(steps=12, head="mlp32x5")
    x = torch.randn(2, 3, 8, 8)

    def step(enabled):
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
            out = model(x)
        out.float().square().mean().backward()
        return out.detach().float(), torch.cat([p.grad.reshape(-1) for p in model.parameters()])

    out32, g32 = step(False)
    out16, g16 = step(True)
    assert out16.dtype == torch.float32
    assert float((out16 - out32).norm() / out32.norm()) < 2e-2
    assert float((g16 - g32).norm() / g32.norm()) < 5e-2


def test_precision_is_checked_and_float32_keeps_old_run_names():
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="fp8")
    assert "precision" not in TrainConfig().identity()
    assert TrainConfig(precision="bf16").digest() != TrainConfig().digest()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_training_matches_cpu(tmp_path):
    from wavescope.training.models.nwm import NeuralWaveMachine

    cpu = _weights(train(_config(tmp_path, name="cpu")))["model"]
    gpu = _weights(train(_config(tmp_path, name="gpu", device="cuda")))["model"]
    for key in cpu:
        torch.testing.assert_close(gpu[key], cpu[key], rtol=1e-4, atol=1e-5)
    torch.manual_seed(0)
    model = NeuralWaveMachine(steps=12, head="mlp32x5").double()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    grads = []
    for device in ("cpu", "cuda"):
        model.to(device).zero_grad()
        out = model(x.to(device))
        out.square().mean().backward()
        grads.append(torch.cat([p.grad.reshape(-1).cpu() for p in model.parameters()]))
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-9, atol=1e-12)
    bf16 = read_metrics(train(_config(tmp_path, name="gbf", device="cuda", precision="bf16")))
    assert bf16[-1]["val_loss"] == pytest.approx(read_metrics(tmp_path / "gpu")[-1]["val_loss"],
                                                 rel=0.05)
