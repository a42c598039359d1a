# The README's two commands: `make quickstart` (main job) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= wavescope-quickstart

.PHONY: quickstart test install clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

quickstart: $(VENV)/.installed
	$(VENV)/bin/wavescope quickstart $(OUT)

test: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest

clean:
	rm -rf $(VENV) $(OUT)
