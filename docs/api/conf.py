"""Sphinx configuration of the API reference (``make docs``; HTML in docs/api/_build)."""

import os
import sys

sys.path.insert(0, os.path.abspath("../.."))
os.environ.setdefault("MPLBACKEND", "Agg")

import wavescope  # noqa: E402

project = "wavescope"
author = "wavescope developers"
copyright = "wavescope developers"
release = version = wavescope.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
]

# One page per public name, generated from the docstrings (docs/api/generated, ignored).
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": False}
autodoc_typehints = "none"  # the numpydoc Parameters section says the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

intersphinx_mapping = {}  # offline builds: no inventories fetched
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_theme_options = {"description": "Travelling-wave analysis for recordings and networks"}
