"""``python -m mamba_dynamics.claims``: print the claims ledger measured from the saved results and write
docs/claims.md, docs/claims.json, docs/claims.html and the verdict tables in README.md and each paper's page.

    python -m mamba_dynamics.claims                  # measure every claim, print, write the generated pages
    python -m mamba_dynamics.claims --check          # exit 1 if a generated page is out of date (writes nothing)
    python -m mamba_dynamics.claims --run --paper outliers   # rerun the reduced checks; exit 1 if a verdict differs
    python -m mamba_dynamics.claims --id O8,O9       # print these claims only

Exit status: 0 done; 1 a page out of date (``--check``) or a reduced check whose verdict differs from the recorded
one (``--run``); 2 bad input.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..core.cli import Parser
from . import ledger

ROOT = Path(__file__).resolve().parents[2]


def main(argv=None) -> int:
    parser = Parser(prog="python -m mamba_dynamics.claims", description=__doc__.split("\n\n")[0])
    parser.add_argument("--paper", default=None,
                        help="one paper: " + ", ".join(f"{k} ({v[0]})" for k, v in ledger.PAPERS.items()))
    parser.add_argument("--id", default=None, help="comma-separated claim ids (e.g. O8,F3)")
    parser.add_argument("--run", action="store_true", help="rerun the reduced checks of the selected claims")
    parser.add_argument("--check", action="store_true", help="only check that the generated pages are up to date")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root [default: this package's]")
    args = parser.parse_args(argv)
    claims = ledger.all_claims()
    if args.paper is not None and not any(args.paper in (k, v[0]) for k, v in ledger.PAPERS.items()):
        parser.error(f"unknown paper {args.paper!r}; choose from "
                     + ", ".join(f"{k} ({v[0]})" for k, v in ledger.PAPERS.items()))
    ids = [i.strip() for i in args.id.split(",") if i.strip()] if args.id is not None else None
    known = {c.id for c in claims}
    if ids is not None and (not ids or set(ids) - known):
        parser.error(f"unknown claim id {', '.join(sorted(set(ids) - known)) or repr(args.id)}; "
                     f"ids are {', '.join(c.id for c in claims)}")
    if not (args.root / "docs" / "figures").is_dir():
        parser.error(f"no saved results under {args.root / 'docs' / 'figures'} (give the repository root with --root)")
    chosen = ledger.select(claims, args.paper, ids)
    whole = len(chosen) == len(claims)
    if args.check:
        if not whole:
            parser.error("--check compares the whole ledger; leave out --paper and --id")
        stale = ledger.stale(ledger.evaluate(claims, args.root), args.root)
        for p in stale:
            print(f"out of date: {p} (run python -m mamba_dynamics.claims)", file=sys.stderr)
        if not stale:
            print("claims ledger and generated tables are up to date")
        return 1 if stale else 0
    rows = ledger.evaluate(chosen, args.root)
    width = max(len(r.claim.id) for r in rows)
    for r in rows:
        print(f"{r.claim.id:<{width}}  {r.claim.place}: {r.claim.statement}\n{'':<{width}}  -> {r.verdict}"
              + (f": {r.measured.reason}\n{'':<{width}}     ours: {r.measured.ours}" if r.measured else
                 f": {r.missing}"))
    print(f"\n{ledger.summary(rows)} ({len(rows)} claims)")
    status = 0
    if args.run:
        for r in rows:
            if r.claim.reduced is None:
                continue
            got = r.claim.reduced.run()
            same = got.verdict == r.verdict
            status |= not same
            print(f"reduced {r.claim.id} ({r.claim.reduced.what}): {got.verdict} "
                  f"({'as recorded' if same else 'recorded: ' + r.verdict}); {got.ours}")
    if whole:
        for p in ledger.write(rows, args.root):
            print(f"written: {p}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
