"""The ledger: every claim of every paper measured from the saved results, and the pages generated from it.

:func:`evaluate` measures each :class:`~mamba_dynamics.claims.record.Claim` from ``docs/figures``; the renderers
write ``docs/claims.md`` (a table per paper), ``docs/claims.json`` (every record with its numbers),
``docs/claims.html`` (the rows with each claim's figure beside it) and the verdict tables inside README.md and each
paper's page, between the markers ``<!-- claims:<paper> -->`` and ``<!-- /claims -->``.  :func:`outputs` gives
every generated file's text, so writing (:func:`write`) and checking (:func:`stale`) compare the same strings.

Glossary: ``Row`` = a claim and its measurement (or the message of a missing result); ``PAPERS`` = the papers in
ledger order, with their titles and pages.
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .record import VERDICTS, Claim, Measurement, MissingResult, Results

#: paper id -> (short name, title, family page)
PAPERS = {
    "2510.00399": ("outliers", "Li et al., Can Mamba learn in context with outliers?", "outliers.md"),
    "2602.12499": ("features", "feature filtering by a selective SSM + MLP", "features.md"),
    "2510.12026": ("single index", "Mamba learning single-index models in context", "single_index.md"),
}
#: the generated files, relative to the repository root
LEDGER_MD, LEDGER_JSON, LEDGER_HTML = Path("docs/claims.md"), Path("docs/claims.json"), Path("docs/claims.html")
#: pages holding generated tables: path -> ("readme" | "page")
PAGES = {Path("README.md"): "readme", **{Path("docs") / p[2]: "page" for p in PAPERS.values()},
         Path("docs/stacks.md"): "page"}
#: a generated block: ``<!-- claims:KEY -->`` (KEY a paper id, or claim ids separated by commas) or
#: ``<!-- table:NAME -->`` (a data table of :func:`tables`), closed by ``<!-- /claims -->`` / ``<!-- /table -->``
BLOCK = re.compile(r"(<!-- (?P<kind>claims|table):(?P<key>[\w.,-]+) -->\n)(?P<body>.*?)(<!-- /(?P=kind) -->)", re.S)


@dataclass(frozen=True)
class Row:
    """One ledger row: the claim and its measurement, or why it could not be measured."""

    claim: Claim
    measured: Measurement | None
    missing: str = ""

    @property
    def verdict(self) -> str:
        return self.measured.verdict if self.measured else "not measured"


def all_claims() -> tuple:
    """Every family's claims, in ledger order (each family module imports only the core and its own family)."""
    from . import features, outliers, single_index

    return outliers.CLAIMS + features.CLAIMS + single_index.CLAIMS


def select(claims, paper: str | None = None, ids=None) -> tuple:
    """The claims of ``paper`` (an id of :data:`PAPERS` or its short name) and/or with an id in ``ids``."""
    if paper is not None:
        paper = next((k for k, v in PAPERS.items() if paper in (k, v[0])), paper)
        claims = [c for c in claims if c.paper == paper]
    if ids:
        claims = [c for c in claims if c.id in set(ids)]
    return tuple(claims)


def evaluate(claims, root: Path) -> list:
    """Measure every claim from the saved results under ``root`` (a missing result is a row with its message)."""
    res = Results(root)
    rows = []
    for c in claims:
        try:
            rows.append(Row(c, c.measure(res)))
        except MissingResult as exc:
            rows.append(Row(c, None, str(exc)))
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _ours(row: Row) -> str:
    return row.measured.ours if row.measured else f"not measured: {row.missing}"


def _verdict(row: Row) -> str:
    return f"**{row.verdict}**: {row.measured.reason}" if row.measured else "not measured"


def readme_table(rows) -> str:
    """The README's three columns: claim (place and statement), ours, verdict with its reason."""
    lines = ["| claim | ours | verdict |", "|---|---|---|"]
    lines += [f"| {_cell(r.claim.place)}: {_cell(r.claim.statement)} | {_cell(_ours(r))} | {_cell(_verdict(r))} |"
              for r in rows]
    return "\n".join(lines) + "\n"


def page_table(rows) -> str:
    """A paper page's verdict table: id (linked to the ledger), place, claim, the paper's number, ours, verdict."""
    lines = ["| id | place | claim | paper | ours | verdict |", "|---|---|---|---|---|---|"]
    lines += [f"| [{r.claim.id}](claims.md#{r.claim.id.lower()}) | {_cell(r.claim.place)} | {_cell(r.claim.statement)}"
              f" | {_cell(r.claim.paper_value)} | {_cell(_ours(r))} | {_cell(_verdict(r))} |" for r in rows]
    return "\n".join(lines) + "\n"


def summary(rows) -> str:
    """``n reproduced, m partly, ...`` over ``rows``."""
    counts = {v: sum(r.verdict == v for r in rows) for v in (*VERDICTS, "not measured")}
    return ", ".join(f"{n} {v}" for v, n in counts.items() if n)


def ledger_markdown(rows) -> str:
    """``docs/claims.md``: one section per paper, one entry per claim with every field."""
    out = ["# Claims ledger", "",
           "Generated by `python -m mamba_dynamics.claims` from the saved results in `docs/figures` (do not edit: "
           "`python -m mamba_dynamics.claims --check` fails when this page, docs/claims.json, docs/claims.html or a "
           "verdict table in README.md or a paper's page is out of date). Each claim names the command that writes "
           "the results it is measured from; the verdict follows the rule in its `measure` function "
           "(`mamba_dynamics/claims/`), and a reduced check, where there is one, reruns the claim in seconds "
           "(`--run`). A picture of every row: [claims.html](claims.html).", ""]
    for paper, (short, title, page) in PAPERS.items():
        mine = [r for r in rows if r.claim.paper == paper]
        if not mine:
            continue
        out += [f"## arXiv {paper}: {title}", "", f"{summary(mine)}. Page: [{page}]({page}).", ""]
        out.append(page_table(mine))
        for r in mine:
            c = r.claim
            out += [f"### {c.id}", "", f"- **{c.place}**: {c.statement}", f"- paper: {c.paper_value}",
                    f"- ours: {_ours(r)}", f"- verdict: {_verdict(r)}",
                    "- command: " + "; ".join(f"`{s.command}`" for s in c.sources),
                    f"- reduced check: {c.reduced.what if c.reduced else 'none (the full command only)'}",
                    f"- figure: [{c.figure_path}]({c.figure_path})", ""]
    return "\n".join(out)


def _rounded(x):
    """``x`` with every float rounded to 6 significant digits (the text must not change with the last bits a
    platform's summation order leaves), recursively through dicts and lists."""
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_rounded(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return float(f"{float(x):.6g}") if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def ledger_json(rows) -> str:
    """``docs/claims.json``: every record with its numbers (sorted keys, floats to 6 digits, so the text is
    stable)."""
    recs = [{"id": r.claim.id, "paper": r.claim.paper, "place": r.claim.place, "statement": r.claim.statement,
             "paper_value": r.claim.paper_value, "commands": [s.command for s in r.claim.sources],
             "reduced": r.claim.reduced.what if r.claim.reduced else None, "figure": r.claim.figure_path,
             "ours": _ours(r), "verdict": r.verdict, "reason": r.measured.reason if r.measured else r.missing,
             "numbers": _rounded(r.measured.numbers) if r.measured else {}} for r in rows]
    return json.dumps(recs, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


COLOURS = {"reproduced": "#d7f0d2", "partly": "#fcefc7", "not reproduced": "#f6d0cc", "not testable": "#e4e4e4",
           "not measured": "#e4e4e4"}


def ledger_html(rows) -> str:
    """``docs/claims.html``: one table per paper, each row with its figure (the PNG beside the saved result)."""
    esc = html.escape
    out = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'><title>mamba_dynamics: claims ledger</title>",
           "<style>body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse}"
           "td,th{border:1px solid #bbb;padding:6px;vertical-align:top;font-size:14px}img{width:420px}"
           "code{font-size:12px}</style></head><body>",
           "<h1>Claims ledger</h1><p>Generated by <code>python -m mamba_dynamics.claims</code> from the saved results "
           "in docs/figures; the same rows as <a href='claims.md'>claims.md</a>.</p>"]
    for paper, (short, title, page) in PAPERS.items():
        mine = [r for r in rows if r.claim.paper == paper]
        if not mine:
            continue
        out.append(f"<h2>arXiv {esc(paper)}: {esc(title)}</h2><p>{esc(summary(mine))}.</p>")
        out.append("<table><tr><th>claim</th><th>ours and verdict</th><th>figure</th></tr>")
        for r in mine:
            c = r.claim
            reason = r.measured.reason if r.measured else r.missing
            out.append(
                f"<tr id='{esc(c.id.lower())}' style='background:{COLOURS[r.verdict]}'>"
                f"<td><b>{esc(c.id)}</b> {esc(c.place)}<br>{esc(c.statement)}<br><i>paper:</i> {esc(c.paper_value)}"
                f"</td><td>{esc(_ours(r))}<br><b>{esc(r.verdict)}</b>: {esc(reason)}<br><code>"
                f"{esc(c.command)}</code></td><td><a href='{esc(c.figure_path)}'><img src='{esc(c.figure_path)}' "
                f"alt='{esc(c.place)}'></a></td></tr>")
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def tables() -> dict:
    """The data tables a page may embed (``<!-- table:NAME -->``): name -> ``(source, render(saved) -> markdown)``,
    from every family's claims module (its ``TABLES``)."""
    from . import features, outliers, single_index

    return {**outliers.TABLES, **features.TABLES, **single_index.TABLES}


def fill_blocks(text: str, rows, kind: str, root: Path | None = None) -> str:
    """``text`` with every generated block replaced: ``claims:<paper>`` by that paper's verdict table,
    ``claims:<id>,<id>`` by those claims' rows, ``table:<name>`` by the data table rendered from its saved result
    (read under ``root``).  ``kind``: ``"readme"`` (three columns) or ``"page"`` (with ids and the paper's
    numbers)."""
    known = tables()

    def sub(m):
        key = m.group("key")
        if m.group("kind") == "table":
            source, render = known[key]
            body = render(Results(root).get(source))
        else:
            mine = [r for r in rows if r.claim.paper == key] or [r for r in rows if r.claim.id in key.split(",")]
            body = readme_table(mine) if kind == "readme" else page_table(mine)
        return m.group(1) + body + m.group(5)

    return BLOCK.sub(sub, text)


def outputs(rows, root: Path) -> dict:
    """Every generated file's text by path (relative to ``root``): the ledger's three files and the pages with
    their blocks filled (a page without blocks is left out)."""
    out = {LEDGER_MD: ledger_markdown(rows), LEDGER_JSON: ledger_json(rows), LEDGER_HTML: ledger_html(rows)}
    for path, kind in PAGES.items():
        full = Path(root) / path
        if full.exists():
            text = full.read_text()
            if BLOCK.search(text):
                out[path] = fill_blocks(text, rows, kind, root)
    return out


def stale(rows, root: Path) -> list:
    """The generated files whose text on disk differs from what the ledger gives now."""
    root = Path(root)
    return [p for p, text in outputs(rows, root).items()
            if not (root / p).exists() or (root / p).read_text() != text]


def write(rows, root: Path) -> list:
    """Write every generated file that changed (atomically); returns their paths."""
    from ..core.io import atomic_write_bytes

    changed = stale(rows, root)
    texts = outputs(rows, root)
    for p in changed:
        atomic_write_bytes(Path(root) / p, texts[p].encode())
    return changed


__all__ = ("PAPERS", "Row", "all_claims", "select", "evaluate", "readme_table", "page_table", "summary",
           "ledger_markdown", "ledger_json", "ledger_html", "fill_blocks", "outputs", "stale", "write")
