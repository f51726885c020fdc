"""The frozen-config base every model family builds its settings on: one error type, validation helpers, ``replace``
with re-derived defaults, ``to_dict`` / ``from_dict``.

A family's config is a ``@dataclass(frozen=True)`` that inherits :class:`ConfigBase` and validates all its fields
in ``__post_init__`` with the ``check_*`` helpers below, so the CLI, the sweeps and the tests reject the same bad
input with the same one-line message (:class:`ConfigError`).

Glossary: ``DERIVED`` = fields whose ``None`` default is computed from other fields (``field -> sources``):
:meth:`ConfigBase.replace` resets such a field to ``None`` (so it is derived again) when one of its sources changes
and the field itself is not given; ``derived_values()`` = read-only properties added to ``to_dict``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar


class ConfigError(ValueError):
    """A configuration value is out of its range; the message is one line meant for the user."""


def check_choice(name: str, value, options, what: str | None = None) -> None:
    """``value`` must be one of ``options``: ``unknown <what> 'x'; choose one of a, b``."""
    if value not in options:
        raise ConfigError(f"unknown {what or name} {value!r}; choose one of {', '.join(options)}")


def check_int(name: str, value, minimum: int = 1) -> None:
    """An integer (not a bool) ``>= minimum`` (1: "a positive integer", 0: "a non-negative integer")."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        kind = {1: "a positive integer", 0: "a non-negative integer"}.get(minimum, f"an integer >= {minimum}")
        raise ConfigError(f"{name} must be {kind}, got {value!r}")


def check_positive(name: str, value, message: str = "must be positive") -> None:
    """A finite number ``> 0``."""
    if not (value > 0 and math.isfinite(value)):
        raise ConfigError(f"{name} {message}, got {value!r}")


def check_non_negative(name: str, value) -> None:
    """A finite number ``>= 0``."""
    if not (value >= 0 and math.isfinite(value)):
        raise ConfigError(f"{name} must be >= 0, got {value!r}")


def check_fraction(name: str, value, low: float = 0.0, high: float = 1.0, high_open: bool = False,
                   label: str | None = None) -> None:
    """``low <= value <= high`` (``< high`` with ``high_open``): ``<label> must lie in [low, high]``."""
    ok = low <= value < high if high_open else low <= value <= high
    if not ok:
        bracket = ")" if high_open else "]"
        raise ConfigError(f"{label or name} must lie in [{low:g}, {high:g}{bracket}, got {value}")


class ConfigBase:
    """Shared behaviour of the frozen config dataclasses (no state of its own)."""

    DERIVED: ClassVar[dict] = {}

    def _set(self, name: str, value) -> None:
        """Set a field of the frozen instance (only from ``__post_init__``, to fill a derived default)."""
        object.__setattr__(self, name, value)

    def replace(self, **changes):
        """A copy with ``changes`` applied and validated again; derived defaults follow their sources."""
        base = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name, sources in self.DERIVED.items():
            if name not in changes and any(s in changes for s in sources):
                base[name] = None
        base.update(changes)
        return type(self)(**base)

    def derived_values(self) -> dict:
        """Read-only quantities derived from the fields, written next to them by :meth:`to_dict`."""
        return {}

    def to_dict(self) -> dict:
        """Plain-JSON form (tuples become lists) plus :meth:`derived_values`."""
        out = {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}
        out.update(self.derived_values())
        return out

    @classmethod
    def from_dict(cls, data: dict):
        """Inverse of :meth:`to_dict` (derived values and unknown keys are ignored; lists become tuples)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: _tuples(v) for k, v in data.items() if k in names})


def _plain(value):
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def field_type(cls, name: str) -> type:
    """``int``, ``float``, ``str`` or ``bool`` of a config field (from its default, else its annotation)."""
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    if f.default is not None and f.default is not dataclasses.MISSING and not isinstance(f.default, tuple):
        return type(f.default)
    text = str(f.type)
    for typ in (bool, int, float, str):
        if typ.__name__ in text:
            return typ
    return object


__all__ = ("ConfigError", "ConfigBase", "check_choice", "check_int", "check_positive", "check_non_negative",
           "check_fraction", "field_type")
