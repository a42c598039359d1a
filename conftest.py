"""pytest set-up shared by the tests and the docstrings' doctests (``--doctest-modules``)."""

import os
from importlib.util import find_spec

os.environ.setdefault("MPLBACKEND", "Agg")  # the plotting examples draw without a display

# wavescope.training needs torch (the `training` extra): without it, its modules are not
# collected for doctests (the torch-free job, `make test-min`).
collect_ignore_glob = [] if find_spec("torch") else ["wavescope/training/*"]
# wavescope.units reads unit strings with pint, which only the dev extra installs.
collect_ignore = [] if find_spec("pint") else ["wavescope/units.py"]
