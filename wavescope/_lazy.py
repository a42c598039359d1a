"""Names of a package that load on first use (PEP 562), so importing it stays light."""

from __future__ import annotations

from importlib import import_module


def lazy_attributes(package: str, names: dict, submodules: set, namespace: dict):
    """``__getattr__`` and ``__dir__`` for ``package``: ``names`` maps a public name to
    (module, attribute), ``submodules`` are imported when asked for, ``namespace`` is the
    package's ``globals()`` (with its ``__all__``)."""

    def __getattr__(name):
        if name in names:
            module, attr = names[name]
            return getattr(import_module(module), attr)
        if name in submodules:
            return import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(namespace) | set(namespace["__all__"]))

    return __getattr__, __dir__
