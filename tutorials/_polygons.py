"""The one NWM run the three tutorials share.

Tutorial 1 trains it; tutorials 2 and 3 ask for the same config, so ``train`` finds the
finished run in ``work`` (or trains it, when a tutorial runs on its own).
"""

from pathlib import Path

from wavescope.training import TrainConfig


def polygon_run_config(small: bool, work: Path) -> TrainConfig:
    """NWM (fft readout, mlp32x5 head) on regular polygons: 24×24 pixels and a few hundred
    images when ``small`` (CI), else 32×32 and the quickstart's full budget."""
    size = 24 if small else 32
    return TrainConfig(
        task="polygons", model="nwm", head="mlp32x5", readout="fft",
        model_kwargs={"steps": 20, "dt": 0.3} if small else {"steps": 50, "dt": 0.2},
        task_kwargs={"sizes": {"train": 192, "val": 32, "test": 32} if small else
                     {"train": 3000, "val": 200, "test": 300},
                     "height": size, "width": size},
        epochs=3 if small else 4, batch_size=16 if small else 32, lr=1e-3,
        data_root=str(work / "data"), out_dir=str(work / "runs"), progress=not small)
