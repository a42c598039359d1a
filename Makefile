# The README's two commands: `make quickstart` (main job) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= wavescope-quickstart

.PHONY: quickstart test install browser clean

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

clean:
	rm -rf $(VENV) $(OUT)
