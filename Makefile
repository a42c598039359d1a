# The README's two commands: `make quickstart` (main job) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= wavescope-quickstart

.PHONY: quickstart test test-min docs install browser clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed browser

# Headless Chromium for the report's browser test (skipped without it): Debian's package,
# installed when apt-get can; never fails the build.
browser:
	@command -v chromium >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1 || \
	  (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 || \
	  echo "chromium could not be installed: the browser test will be skipped"

quickstart: $(VENV)/.installed
	$(VENV)/bin/wavescope quickstart $(OUT)

test: $(VENV)/.installed browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest

# The minimum-versions job (CI runs it after `make test`): a separate venv with the oldest
# releases pyproject.toml allows (.ci/minimum-versions.txt) and no torch, and the tests that
# do not need torch (those in other files skip without it).
VENV_MIN ?= .venv-min
# Left out: the tests that train or load models (they need torch), by file or by name, and
# the doctests of wavescope.training (which imports torch) and wavescope.units (pint, a dev tool).
MIN_TESTS := tests wavescope --ignore=tests/training --ignore=wavescope/training \
  --ignore=wavescope/units.py \
  --ignore=tests/analysis/test_torch_path.py \
  --ignore=tests/test_hardening.py --ignore=tests/test_report.py \
  --ignore=tests/test_reproduce.py --ignore=tests/test_scripts.py \
  --ignore=tests/test_quickstart.py --ignore=tests/test_readme_numbers.py \
  --deselect=tests/test_cli.py::test_train_help_lists_every_choice_and_default \
  -k "not (test_tutorial_runs_small_and_asserts_its_results and not 04_real_recording)"

$(VENV_MIN)/.installed: pyproject.toml .ci/minimum-versions.txt
	rm -rf $(VENV_MIN)
	python3 -m venv $(VENV_MIN)
	$(VENV_MIN)/bin/python -m pip install --quiet -c .ci/minimum-versions.txt \
	  -e ".[dask,imaging,nwb]" pytest hypothesis
	touch $@

test-min: $(VENV_MIN)/.installed
	$(VENV_MIN)/bin/python -m pytest $(MIN_TESTS)

# The API reference from the docstrings (docs/api; HTML in docs/api/_build/html). A fresh
# build every time, warnings as errors, all of them listed (--keep-going).
docs: $(VENV)/.installed
	rm -rf docs/api/_build docs/api/generated
	MPLBACKEND=Agg $(VENV)/bin/sphinx-build -W --keep-going -q -b html docs/api docs/api/_build/html

clean:
	rm -rf $(VENV) $(VENV_MIN) $(OUT) docs/api/_build docs/api/generated
