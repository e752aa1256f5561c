"""Sphinx extension: ``.. bench-results:: PATH`` renders benchmarks/compare.py's JSON results.

It makes a table (ns per operation, pygreenlet's compiled backend and upstream
greenlet, and their ratio) and a bar chart of the ratios, drawn as inline SVG
when the documentation is built, so both always show the committed results.
"""

from __future__ import annotations

import json
import os
from html import escape
from typing import Any, Dict, List

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

OURS, THEIRS = "speedups", "upstream"
ORDER = ["switch", "switch-deep", "create+run", "chain", "getcurrent"]
COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1", "#9c755f"]


def load(path: str) -> List[Dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        entries = json.load(f)["entries"]
    return [e for e in entries if OURS in e["versions"] and THEIRS in e["versions"]]


def label(entry: Dict[str, Any]) -> str:
    return "%s %s" % ("PyPy" if entry["implementation"] == "PyPy" else "CPython", entry["python"])


def ratio(entry: Dict[str, Any], bench: str) -> float:
    ns = entry["ns"][bench]
    return ns[OURS] / ns[THEIRS]


def chart(entries: List[Dict[str, Any]], benches: List[str]) -> str:
    """Grouped bars: for each benchmark, one bar per interpreter; a rule at ratio 1."""
    top = max(2.0, max(ratio(e, b) for e in entries for b in benches))
    top = float(int(top + 0.999))
    bar, gap, left, height, base = 14, 18, 48, 220, 250
    group = bar * len(entries) + gap
    width = left + group * len(benches) + 170

    def y(value: float) -> float:
        return base - height * value / top

    out = [
        '<svg xmlns="http://www.w3.org/2000/svg" role="img" width="%d" height="%d" '
        'font-family="sans-serif" font-size="11">' % (width, base + 30),
        "<title>Time per operation of pygreenlet's compiled backend divided by upstream "
        "greenlet's, per benchmark and interpreter (lower is better; 1 = as fast)</title>",
    ]
    out.append(
        '<text x="%d" y="12">pygreenlet time ÷ greenlet time (lower is better)</text>' % (left - 40)
    )
    step = 0.5 if top <= 3 else 1.0
    v = 0.0
    while v <= top + 1e-9:
        out.append(
            '<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>'
            '<text x="%d" y="%.1f" text-anchor="end">%.1f×</text>'
            % (left, width - 170, y(v), y(v), left - 4, y(v) + 4, v)
        )
        v += step
    out.append(
        '<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#000" stroke-dasharray="4 3"/>'
        % (left, width - 170, y(1.0), y(1.0))
    )
    for i, b in enumerate(benches):
        x0 = left + gap / 2 + i * group
        for j, e in enumerate(entries):
            r = ratio(e, b)
            out.append(
                '<rect x="%.1f" y="%.1f" width="%d" height="%.1f" fill="%s">'
                "<title>%s, %s: %.2f×</title></rect>"
                % (
                    x0 + j * bar,
                    y(r),
                    bar - 2,
                    base - y(r),
                    COLOURS[j % len(COLOURS)],
                    escape(b),
                    escape(label(e)),
                    r,
                )
            )
        out.append(
            '<text x="%.1f" y="%d" text-anchor="middle">%s</text>'
            % (x0 + bar * len(entries) / 2, base + 16, escape(b))
        )
    for j, e in enumerate(entries):
        yy = 20 + j * 16
        out.append(
            '<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d">%s</text>'
            % (width - 160, yy, COLOURS[j % len(COLOURS)], width - 145, yy + 9, escape(label(e)))
        )
    out.append("</svg>")
    return "".join(out)


class BenchResults(SphinxDirective):
    required_arguments = 1

    def run(self) -> List[nodes.Node]:
        path = os.path.normpath(
            os.path.join(os.path.dirname(self.env.doc2path(self.env.docname)), self.arguments[0])
        )
        self.env.note_dependency(path)
        entries = load(path)
        if not entries:
            raise self.error("no results with both %s and %s in %s" % (OURS, THEIRS, path))
        known = [b for b in ORDER if b in entries[0]["ns"]]
        benches = known + sorted(set(entries[0]["ns"]) - set(known))

        table = nodes.table(classes=["bench-results"])
        group = nodes.tgroup(cols=1 + len(entries))
        table += group
        for _ in range(1 + len(entries)):
            group += nodes.colspec(colwidth=1)
        head = nodes.thead()
        row = nodes.row()
        for text in ["benchmark"] + [label(e) for e in entries]:
            row += nodes.entry("", nodes.paragraph(text=text))
        head += row
        group += head
        body = nodes.tbody()
        for b in benches:
            row = nodes.row()
            row += nodes.entry("", nodes.paragraph(text=b))
            for e in entries:
                ns = e["ns"][b]
                text = "%.2f× (%.0f / %.0f ns)" % (ns[OURS] / ns[THEIRS], ns[OURS], ns[THEIRS])
                row += nodes.entry("", nodes.paragraph(text=text))
            body += row
        group += body

        details = nodes.bullet_list()
        for e in entries:
            text = "%s on %s, %s: %s against %s, best of %d" % (
                label(e),
                e["machine"],
                e["date"],
                e["versions"][OURS],
                e["versions"][THEIRS],
                e["repeat"],
            )
            details += nodes.list_item("", nodes.paragraph(text=text))
        return [table, details, nodes.raw("", chart(entries, benches), format="html")]


def setup(app: Sphinx) -> Dict[str, Any]:
    app.add_directive("bench-results", BenchResults)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
