"""Command-line plumbing shared by every family and script: one flag per config field from a family's flag table,
one-line errors, output and reproduction arguments, the grid syntax, tables.

Bad input never produces a traceback: argparse type errors and :class:`ConfigError` both end as
``<prog>: error: <one line>`` on stderr with exit status 2.

Glossary: a flag table is a list of ``(flags, field, type, help)``; ``shown`` = what ``--help`` prints as the
default (the config default unless the family says "derived" or similar).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import numpy as np

from .config import ConfigError
from .resources import add_memory_argument, check_fits

class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show ``(default: X)`` only where the help text does not state the default already and X is not None."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "[default:" in text or action.default is None or action.default is False:
            return text
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line (no usage dump) with exit status 2."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # noqa: D102 - argparse API
        self.exit(2, f"{self.prog}: error: {message}\n")


def add_flags(parser: argparse.ArgumentParser, flags: list, defaults, title: str, skip: tuple = (),
              shown: dict | None = None) -> None:
    """One flag per row of ``flags`` (except fields in ``skip``) in an argument group titled ``title``; unset
    flags stay None so the config's own default applies.  ``--help`` shows ``shown[field]`` or the default of
    ``defaults`` (a config instance), unless the help text states its default itself."""
    shown = shown or {}
    group = parser.add_argument_group(title)
    for names, name, typ, text in flags:
        if name in skip:
            continue
        if "[default" not in text:
            text = f"{text} [default: {shown.get(name, getattr(defaults, name))}]"
        group.add_argument(*names, dest=name, type=typ, default=None, help=text)


def build_config(parser: argparse.ArgumentParser, args: argparse.Namespace, cls, **overrides):
    """A validated ``cls`` (a frozen config dataclass) from the parsed flags named like its fields (unset flags
    keep the defaults) plus ``overrides``; a bad value ends the program via ``parser.error`` (exit 2)."""
    names = {f.name for f in dataclasses.fields(cls)}
    kw = {k: v for k, v in vars(args).items() if k in names and v is not None}
    kw.update(overrides)
    try:
        cfg = cls(**kw)
    except ConfigError as exc:
        parser.error(str(exc))
    except TypeError as exc:  # pragma: no cover - programming error guard
        parser.error(str(exc))
    check_memory(parser, args, cfg)
    return cfg


def memory_extras(args: argparse.Namespace, accepted) -> dict:
    """What a script's flags add to a run's memory, as keywords of a config's ``memory`` method (those it
    ``accepted``): the evaluation prompts ``--n-eval``, the runs ``--seeds`` keeps, the test lengths ``--test-N``
    and kernel ridge regression (``--krr``, ``--krr-max-N``, ``--krr-prompts``)."""
    extras = {"n_eval": getattr(args, "n_eval", None), "runs": getattr(args, "seeds", 1) or 1,
              "test_N": getattr(args, "test_N", None) or ()}
    if hasattr(args, "krr_prompts"):  # counted whether or not --krr asks for it: an absurd count is refused anyway
        extras.update(krr_prompts=max(args.krr_prompts, 0), krr_max_N=getattr(args, "krr_max_N", 2**62))
    return {k: v for k, v in extras.items() if k in accepted}


def estimate_memory(args: argparse.Namespace, cfg):
    """The estimated peak memory of a run of ``cfg`` (its ``memory`` method, with the script's
    :func:`memory_extras`), or None for a config without one."""
    if not hasattr(cfg, "memory"):
        return None
    import inspect

    return cfg.memory(**memory_extras(args, inspect.signature(cfg.memory).parameters))


def check_memory(parser: argparse.ArgumentParser, args: argparse.Namespace, cfg, what: str = "this run") -> None:
    """Refuse (one line, exit 2) a config whose estimated peak memory (:func:`estimate_memory`) exceeds the limit
    (:func:`~mamba_dynamics.core.resources.check_fits`)."""
    est = estimate_memory(args, cfg)
    if est is not None:
        check_fits(parser, args, est, what)


def check_largest(parser: argparse.ArgumentParser, args: argparse.Namespace, cfgs, what: str) -> None:
    """:func:`check_memory` of the config of ``cfgs`` whose estimate is largest (a sweep: its largest cell)."""
    ests = [e for e in (estimate_memory(args, c) for c in cfgs) if e is not None]
    if ests:
        check_fits(parser, args, max(ests, key=lambda e: e.total), what)
        check_fits(parser, args, max(ests, key=lambda e: e.work), what)


def add_output_arguments(parser: argparse.ArgumentParser, default_prefix: str) -> None:
    """``--out``, ``--quiet``, ``--pdf`` shared by every script."""
    parser.add_argument("--out", type=Path, default=None,
                        help=f"output folder [default: runs/<timestamp>-{default_prefix}]")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--pdf", action="store_true", help="also write figures as PDF")
    add_memory_argument(parser)


def add_repro_arguments(parser: argparse.ArgumentParser, seeds: int = 5, n_eval: bool = True) -> None:
    """``--seeds``, ``--n-eval`` (unless ``n_eval=False``), ``--jobs`` shared by the reproduction scripts."""
    parser.add_argument("--seeds", type=int, default=seeds, help="number of seeds (0, 1, ..., seeds-1)")
    if n_eval:
        parser.add_argument("--n-eval", type=int, default=2000, help="test prompts per evaluated point")
    parser.add_argument("--jobs", type=int, default=0, help="worker processes (0 = all cores)")


def check_repro_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--seeds``, ``--n-eval`` (where present) positive and ``--jobs`` non-negative, else a one-line error
    (exit 2)."""
    if args.seeds < 1:
        parser.error(f"--seeds must be a positive integer, got {args.seeds}")
    if getattr(args, "n_eval", None) is not None and args.n_eval < 1:
        parser.error(f"--n-eval must be a positive integer, got {args.n_eval}")
    if args.jobs < 0:
        parser.error(f"--jobs must be >= 0, got {args.jobs}")
    if args.jobs > MAX_JOBS:
        parser.error(f"--jobs must be at most {MAX_JOBS} (worker processes), got {args.jobs}")
    if args.seeds > MAX_GRID:
        parser.error(f"--seeds must be at most {MAX_GRID}, got {args.seeds}")


#: the most worker processes a script starts (each holds its own copy of a run's arrays)
MAX_JOBS = 1024
#: the most values a grid may have (``--alphas 0:1:1e-9`` would be 10^9 training runs)
MAX_GRID = 10_000


def raw_values(text: str) -> list:
    """Grid syntax shared by every script: ``"a,b,c"`` (strings kept as given), ``"start:stop:step"`` (stop
    included) or ``"geom:start:stop:n"`` (``n`` log-spaced values).  Raises ``ValueError`` on a malformed grid."""
    if text.startswith("geom:"):
        _, a, b, n = text.split(":")
        if not 0 < int(n) <= MAX_GRID:
            raise ValueError(f"{text}: the number of values must be 1 to {MAX_GRID}")
        return list(np.geomspace(float(a), float(b), int(n)))
    if ":" in text:
        a, b, step = (float(v) for v in text.split(":"))
        if step <= 0 or b < a:
            raise ValueError(text)
        n = int(np.floor((b - a) / step + 1e-9)) + 1
        if n > MAX_GRID:
            raise ValueError(f"{text} has {n} values (at most {MAX_GRID})")
        return [a + i * step for i in range(n)]
    return [v.strip() for v in text.split(",") if v.strip()]


def float_list(text: str) -> list[float]:
    """argparse type for a list of numbers in the :func:`raw_values` syntax."""
    try:
        return [round(float(v), 12) for v in raw_values(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 0,0.5,0.9 or a range 0:0.9:0.1, got {text!r}")


def fraction_list(text: str) -> list[float]:
    """argparse type: a non-empty :func:`float_list` of fractions in [0, 1] (e.g. test outlier fractions)."""
    values = float_list(text)
    if not values or any(not 0 <= v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"must be a non-empty list of fractions in [0, 1], got {text!r}")
    return values


def positive_int_list(text: str) -> list[int]:
    """argparse type: comma-separated positive integers (e.g. context lengths)."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 64,256,1024, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"must be positive integers, got {text!r}")
    return values


def name_list(parser: argparse.ArgumentParser, text: str, allowed, flag: str, what: str) -> list[str]:
    """The comma-separated names of ``text`` (e.g. ``--models mamba,lt``), each among ``allowed`` (None: any); a
    one-line error (exit 2) when none is given or one is unknown."""
    names = [x.strip() for x in text.split(",") if x.strip()]
    if not names:
        parser.error(f"{flag} must name at least one {what}")
    if allowed is not None and set(names) - set(allowed):
        parser.error(f"{flag} must name {what}s among {', '.join(allowed)}, got {text!r}")
    return names


def requested_model(argv: list) -> str | None:
    """The value of ``--model`` in ``argv`` (either ``--model X`` or ``--model=X``), or None."""
    for i, arg in enumerate(argv):
        if arg == "--model" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--model="):
            return arg.split("=", 1)[1]
    return None


#: Free space an output folder's file system must have before a run starts (a run writes at most a few MiB).
MIN_FREE_BYTES = 16 * 2**20


def output_problem(path: Path) -> str | None:
    """Why the folder ``path`` cannot receive a run's files, or None.  Probes without leaving anything behind:
    the path must be a folder or not exist yet, its nearest existing ancestor must be a folder in which a
    (removed at once) entry can be created, and that file system needs :data:`MIN_FREE_BYTES` free."""
    if path.exists() and not path.is_dir():
        return f"--out {path} exists and is not a folder"
    base = path
    while not base.exists():
        base = base.parent
    if not base.is_dir():
        return f"--out {path}: {base} is a file, not a folder"
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".mamba_dynamics-probe-", dir=base))
    except OSError as exc:
        return f"--out {path}: cannot create files in {base} ({exc.strerror or exc})"
    free = shutil.disk_usage(base).free
    if free < MIN_FREE_BYTES:
        return f"--out {path}: no space, {free / 2**20:.1f} MiB free on {base} (at least {MIN_FREE_BYTES // 2**20} MiB needed)"
    return None


def output_dir(parser: argparse.ArgumentParser, args: argparse.Namespace, prefix: str) -> Path:
    """``--out``, or ``runs/<timestamp>-<prefix>``; an unusable folder (see :func:`output_problem`) ends the
    program with one line and exit status 2 before any work starts."""
    path = args.out if args.out is not None else Path("runs") / f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{prefix}"
    problem = output_problem(Path(path))
    if problem:
        parser.error(problem)
    return Path(path)


def names_from(parser: argparse.ArgumentParser, value: str, choices, what: str) -> list:
    """The comma-separated names of ``value`` (a ``--study``/``--laws``-style flag), each one of ``choices``; an
    unknown or empty list ends the program with one line naming ``what`` and the choices (exit 2)."""
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = sorted(set(names) - set(choices))
    if unknown or not names:
        parser.error(f"unknown {what} {', '.join(unknown) or repr(value)}; choose from {', '.join(choices)}")
    return names


def format_table(rows: list[tuple[str, str]], title: str = "") -> str:
    """Two-column plain-text table."""
    width = max(len(k) for k, _ in rows)
    lines = [title, "-" * max(len(title), width + 20)] if title else []
    lines += [f"{k:<{width}}  {v}" for k, v in rows]
    return "\n".join(lines)


def simulation_parser(prog: str, description: str, add_family_arguments, out_prefix: str) -> Parser:
    """The parser of a family's ``simulate.py`` entry: the family's setting flags, ``--out``, ``--quiet``,
    ``--pdf`` and ``--no-plot``."""
    parser = Parser(prog=prog, description=description)
    add_family_arguments(parser)
    add_output_arguments(parser, out_prefix)
    parser.add_argument("--no-plot", action="store_true", help="skip the figure")
    return parser


def report_training_run(result, args: argparse.Namespace, out: Path, theory: dict, plot, rows: list, title: str,
                        prog: str) -> int:
    """Finish a ``simulate.py`` run of a trained model (:class:`mamba_dynamics.core.train.TrainResult`): write
    ``results.npz`` + ``results.json`` (config, seed, status, wall time, final scalars, ``theory``), draw
    ``tracked.png`` with ``plot(result)`` unless ``--no-plot``, print ``rows`` as a table; exit status 1 (after
    writing) if the run did not complete, else return 0."""
    from .io import write_run

    cfg = result.config
    sidecar = {"config": cfg.to_dict(), "seed": cfg.seed, "status": result.status, "message": result.message,
               "steps_done": result.steps_done, "wall_time_s": result.wall_time, "summary": result.summary(),
               "theory": theory}
    write_run(out, "results", result.arrays(), sidecar)
    if not args.no_plot and len(result.history["step"]) > 0:
        from .plotting import save_figure

        save_figure(plot(result), out / "tracked.png", pdf=args.pdf)
    print(format_table(rows + [("output", str(out))], title))
    if result.status != "completed":
        fail(f"{prog}: {result.message}; results so far written to {out}", 1)
    return 0


def fail(message: str, code: int = 1) -> None:
    """Print ``message`` on stderr and exit with ``code``."""
    print(message, file=sys.stderr)
    raise SystemExit(code)
