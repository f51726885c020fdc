"""Resource limits: a run too large for the machine is refused from its configuration alone, before anything is
allocated, with one line that names the estimate, the limit and the flags that drive it (exit status 2).

Each family estimates the peak memory of a run from its config (``<family>/memory.py``: the arrays a run keeps
alive at once, each a named part, as :class:`Estimate`); :func:`check_fits` compares the estimate plus
:data:`BASELINE` (the interpreter, NumPy, Numba and the compiled kernels) with the limit: ``--max-memory`` when
given (:func:`parse_memory`: ``16G``, ``512M``, ``2.5GB``, or bytes), else the memory the operating system reports
available (:func:`available_memory`).  The estimates are tested against the measured peak of NumPy's allocations
(``tracemalloc``) on small and medium runs of every family: within :data:`FACTOR` either way
(tests/core/test_resources.py; docs/usage.md, "Resource limits").

Glossary: ``parts`` = ``{what: bytes}``; ``drivers`` = the flags whose values the largest parts grow with.
"""

from __future__ import annotations

import argparse
import math
import os
from typing import NamedTuple

#: what a run needs besides its arrays: the interpreter, NumPy/SciPy, Numba and LLVM, the loaded kernels (measured
#: resident size after importing a family and running one step: 250-330 MB)
BASELINE = 400 * 2**20
#: the estimates hold within this factor of the measured peak of the arrays (tested; docs/usage.md)
FACTOR = 3.0
#: bytes per float64
F64 = 8
#: the most floating-point operations a run may need: 10^17, about four months at 10 GFLOP/s (a step size or a
#: count one typo away from sensible, e.g. 2^62 prompts, would never finish; refused like a size)
MAX_WORK = 1e17
#: the rate the refusal message converts work to time with (one core of the kernels, order of magnitude)
RATE = 1e10
_UNITS = {"": 1, "B": 1, "K": 2**10, "KB": 2**10, "KIB": 2**10, "M": 2**20, "MB": 2**20, "MIB": 2**20,
          "G": 2**30, "GB": 2**30, "GIB": 2**30, "T": 2**40, "TB": 2**40, "TIB": 2**40}


class Estimate(NamedTuple):
    """A run's peak memory by part: ``parts`` ``{what: bytes}`` (the arrays alive at once), ``drivers``, the
    flags its largest parts grow with, and ``work``, its floating-point operations (a rough count: the products
    of the training steps and evaluations)."""

    parts: dict
    drivers: tuple = ()
    work: float = 0.0

    @property
    def total(self) -> float:
        """Bytes of all the parts (not counting :data:`BASELINE`)."""
        return float(sum(self.parts.values()))

    def largest(self) -> tuple[str, float]:
        """The largest part and its bytes."""
        return max(self.parts.items(), key=lambda kv: kv[1])

    def plus(self, other: "Estimate") -> "Estimate":
        """Both estimates' parts (alive together) and drivers."""
        parts = dict(self.parts)
        for k, v in other.parts.items():
            parts[k] = parts.get(k, 0.0) + v
        return Estimate(parts, tuple(dict.fromkeys(self.drivers + other.drivers)), self.work + other.work)


def arrays(*shape_groups, itemsize: int = F64) -> float:
    """Bytes of arrays of the given shapes (each a tuple of sizes, in floats unless ``itemsize``); sizes may be
    Python ints of any size, so nothing overflows."""
    return float(sum(math.prod(int(n) for n in shape) for shape in shape_groups) * itemsize)


def available_memory() -> int | None:
    """Bytes the operating system reports available (Linux: ``MemAvailable`` of /proc/meminfo; elsewhere the free
    physical pages), or None where it cannot tell."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def parse_memory(text: str) -> int:
    """argparse type of ``--max-memory``: a positive size with an optional unit (``16G``, ``512M``, ``2.5GB``,
    ``1e9``: bytes; binary units)."""
    s = str(text).strip().upper().replace(" ", "")
    num = s.rstrip("KMGTIB")
    unit = s[len(num):]
    try:
        value = float(num) * _UNITS[unit]
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(f"expected a size like 16G, 512M or 2.5GB, got {text!r}") from None
    if not (math.isfinite(value) and value >= 1):
        raise argparse.ArgumentTypeError(f"must be a positive size like 16G, got {text!r}")
    return int(value)


def format_bytes(n: float) -> str:
    """``n`` bytes in the largest binary unit that keeps it at least 1 (``3.2 GiB``; ``1.1e+09 TiB`` beyond)."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            v = n / size
            return f"{v:.3g} {unit}" if v < 1e5 else f"{v:.2g} {unit}"
    return f"{n:.0f} B"


def add_memory_argument(parser: argparse.ArgumentParser) -> None:
    """``--max-memory SIZE``: the limit the run's estimated peak memory is checked against (default: the memory
    available now)."""
    parser.add_argument("--max-memory", type=parse_memory, default=None, metavar="SIZE",
                        help="refuse a run whose estimated peak memory exceeds this (16G, 512M, ...) "
                             "[default: the memory available now]")


def memory_limit(args: argparse.Namespace | None = None) -> tuple[float | None, str]:
    """The limit in bytes and where it comes from: ``--max-memory`` when given, else the available memory (None
    when the system does not say: no check)."""
    given = getattr(args, "max_memory", None) if args is not None else None
    if given is not None:
        return float(given), "--max-memory"
    avail = available_memory()
    return (None if avail is None else float(avail)), "the memory available now; --max-memory to change it"


def refusal(est: Estimate, limit: float, source: str, what: str = "this run") -> str:
    """The one-line message of a refused run."""
    part, size = est.largest()
    drivers = f"; it grows with {', '.join(est.drivers)}" if est.drivers else ""
    return (f"{what} needs about {format_bytes(est.total + BASELINE)} of memory (largest part: {part}, "
            f"{format_bytes(size)}), above the limit of {format_bytes(limit)} ({source}){drivers}")


def check_fits(parser: argparse.ArgumentParser, args: argparse.Namespace | None, est: Estimate,
               what: str = "this run") -> None:
    """End the program with one line and exit status 2 (``parser.error``) when ``est`` plus :data:`BASELINE`
    exceeds the limit (:func:`memory_limit`), or its work exceeds :data:`MAX_WORK`; nothing is allocated or
    written before."""
    limit, source = memory_limit(args)
    if limit is not None and est.total + BASELINE > limit:
        parser.error(refusal(est, limit, source, what))
    if est.work > MAX_WORK:
        drivers = f"; it grows with {', '.join(est.drivers)}" if est.drivers else ""
        parser.error(f"{what} needs about {est.work:.2g} floating-point operations (about "
                     f"{est.work / RATE / 86400:.2g} days at {RATE:.0e} FLOP/s), above the limit of {MAX_WORK:.0e}"
                     f"{drivers}")


__all__ = ["BASELINE", "FACTOR", "F64", "MAX_WORK", "RATE", "Estimate", "arrays", "available_memory", "parse_memory", "format_bytes",
           "add_memory_argument", "memory_limit", "refusal", "check_fits"]
