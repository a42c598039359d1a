"""Every tutorial runs, at its reduced size, as a plain script; each asserts its own key
results, so a run that ends with exit code 0 has checked them."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))


def test_the_tutorials_are_there():
    assert [t.name[:2] for t in TUTORIALS] == ["01", "02", "03", "04"]


@pytest.mark.slow
@pytest.mark.parametrize("script", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_runs_small_and_asserts_its_results(script, tmp_path):
    env = dict(os.environ, WAVESCOPE_TUTORIAL_SIZE="small", PYTHONPATH=str(ROOT),
               WAVESCOPE_TUTORIAL_OUT=str(tmp_path / "work"),
               WAVESCOPE_FIGURES=str(tmp_path / "figures"), MPLBACKEND="Agg",
               OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    res = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=240, check=False)
    assert res.returncode == 0, f"{script.name} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    assert not (tmp_path / "figures").exists(), "small runs must not write the README figures"


def test_tutorials_are_jupytext_percent_scripts():
    for script in TUTORIALS:
        text = script.read_text()
        assert "format_name: percent" in text and "# %% [markdown]" in text
        assert "WAVESCOPE_TUTORIAL_SIZE" in text and "assert " in text
