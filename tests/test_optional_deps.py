"""Optional dependencies stay optional: with torch blocked (as if not installed), wavescope
imports, detects a simulated wave with its known speed and direction, and a training
feature says which extra to install."""

import os
import subprocess
import sys
import textwrap

import pytest

# A finder first on sys.meta_path that reports the named top-level packages as missing,
# whatever is installed: `import torch` and find_spec("torch") raise ModuleNotFoundError.
BLOCK = """
import importlib.abc, sys

class _Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)
        return None

sys.meta_path.insert(0, _Missing())
"""

# Every public module but wavescope.training (and the quickstart's training steps).
MODULES = ["wavescope", "wavescope.core", "wavescope.io", "wavescope.simulate",
           "wavescope.datasets", "wavescope.drums", "wavescope.readers", "wavescope.imaging",
           "wavescope.plotting", "wavescope.plotting.results", "wavescope.report",
           "wavescope.cli", "wavescope.quickstart", "wavescope.analysis",
           "wavescope.analysis.analytic", "wavescope.analysis.gradient",
           "wavescope.analysis.waves", "wavescope.analysis.events", "wavescope.analysis.stats",
           "wavescope.analysis.delays", "wavescope.analysis.flow",
           "wavescope.analysis.spectral", "wavescope.analysis.decoding",
           "wavescope.analysis.hidden", "wavescope.analysis.summaries", "wavescope.units"]


def run_without(blocked: set[str], code: str) -> subprocess.CompletedProcess:
    src = BLOCK.format(blocked=blocked) + textwrap.dedent(code)
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-c", src], capture_output=True, text=True,
                          timeout=300, env=env, check=False)


def test_the_blocker_blocks():
    res = run_without({"torch"}, "import torch\n")
    assert res.returncode != 0 and "(blocked)" in res.stderr


def test_analysis_runs_without_torch():
    res = run_without({"torch"}, f"""
        import importlib, sys
        import numpy as np
        for name in {MODULES!r}:
            importlib.import_module(name)
        import wavescope as ws
        da = ws.simulate.plane_wave((12, 12), n_times=200, sfreq=100.0, frequency=5.0,
                                    speed=40.0, direction=np.pi / 3, seed=0)
        ev = ws.analysis.detect_waves(da, (3.0, 7.0), n_surrogates=5, seed=0)
        planar = ev["frame_pattern"].values == "planar"
        assert planar.mean() > 0.9, planar.mean()
        speed = float(np.nanmedian(ev["frame_speed"].values[planar]))
        direction = float(np.angle(np.nanmean(np.exp(1j * ev["frame_direction"].values[planar]))))
        assert abs(speed - 40.0) < 2.0 and abs(direction - np.pi / 3) < 0.05, (speed, direction)
        assert "torch" not in sys.modules
        print("ok")
        """)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().endswith("ok")


@pytest.mark.parametrize("use", [
    "import wavescope.training",
    "import wavescope.training.trainer",
    "import wavescope as ws; ws.training.train",
    "from wavescope.quickstart import Quickstart, SMALL; "
    "Quickstart('qs_without_torch', SMALL).train_config()",
])
def test_a_training_feature_without_torch_names_the_extra(use, tmp_path):
    res = run_without({"torch"}, f"""
        import os
        os.chdir({str(tmp_path)!r})
        try:
            {use}
        except ImportError as err:
            print("ImportError:", err)
        """)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "ImportError:" in res.stdout and "pip install 'wavescope[training]'" in res.stdout


@pytest.mark.parametrize("argv", [["train", "--help"], ["train", "--epochs", "1"],
                                  ["evaluate", "run"], ["export", "run", "-o", "h.nc"],
                                  ["sweep", "spec.json"]])
def test_training_verbs_without_torch_say_one_line_naming_the_extra(argv, tmp_path):
    # exit 1 (an error while running, not a usage error), no traceback
    res = run_without({"torch"}, f"""
        import os, sys
        os.chdir({str(tmp_path)!r})
        from wavescope.cli import main
        sys.exit(main({argv!r}))
        """)
    assert res.returncode == 1, res.stderr[-3000:]
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr[-3000:]
    assert lines[0].startswith(f"wavescope {argv[0]}: error: ")
    assert "pip install 'wavescope[training]'" in lines[0] and "--debug" not in lines[0]
    assert res.stdout == ""
