"""The data model's unit strings, read by pint.

Every ``units`` attribute and coordinate unit that wavescope writes is a pint expression
once two non-physical units are known: "a.u." (arbitrary units, values of unknown scale)
and "time unit" (the time unit of a model's dynamics: time is steps x ``dt`` of them).
:func:`unit_registry` is a pint registry that knows both. pint is not a dependency of
wavescope (``pip install pint``; the ``dev`` extra has it); it is imported on use.
"""

from __future__ import annotations

__all__ = ["UNIT_DEFINITIONS", "unit_registry"]

#: pint definitions of the two units of the data model that pint does not know.
UNIT_DEFINITIONS = ("arbitrary_unit = [arbitrary]", "time_unit = [model_time]")
#: How the data model spells them (pint names cannot hold dots or spaces).
_SPELLINGS = {"a.u.": "arbitrary_unit", "time unit": "time_unit"}


def unit_registry():
    """A :class:`pint.UnitRegistry` that parses every unit string of the data model.

    Returns
    -------
    pint.UnitRegistry
        The default registry plus :data:`UNIT_DEFINITIONS`, reading "a.u." as
        ``arbitrary_unit`` and "time unit" as ``time_unit``.

    Raises
    ------
    ModuleNotFoundError
        When pint is not installed.

    Examples
    --------
    >>> from wavescope.units import unit_registry
    >>> ureg = unit_registry()
    >>> print(ureg.parse_units("(a.u.)^2/Hz"))  # a power spectral density of a model
    arbitrary_unit ** 2 / hertz
    >>> print(ureg.parse_units("pixel/time unit"))  # a model's wave speed
    pixel / time_unit
    """
    try:
        import pint
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            "unit_registry needs pint, which wavescope does not install: pip install pint"
        ) from err
    registry = pint.UnitRegistry(preprocessors=[_pint_spelling])
    for definition in UNIT_DEFINITIONS:
        registry.define(definition)
    return registry


def _pint_spelling(text: str) -> str:
    for spelled, name in _SPELLINGS.items():
        text = text.replace(spelled, name)
    return text
