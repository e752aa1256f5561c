"""Rule ids are the shared vocabulary of code, tests and docs: each side names every one."""

from __future__ import annotations

import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RULE = re.compile(r"\bR(\d+)\b")


def ids_in(*paths: str) -> set[int]:
    found: set[int] = set()
    for top in paths:
        top = os.path.join(ROOT, top)
        files = (
            [top]
            if os.path.isfile(top)
            else [
                os.path.join(d, f)
                for d, _, fs in os.walk(top)
                for f in fs
                if f.endswith((".py", ".rst")) and "_build" not in d
            ]
        )
        for name in files:
            with open(name, encoding="utf-8") as f:
                found |= {int(n) for n in RULE.findall(f.read())}
    return found


def test_rule_ids_are_in_code_docs_and_tests():
    code = ids_in("pygreenlet/_semantics.py")
    if not os.path.isdir(os.path.join(ROOT, "docs")):
        pytest.skip("docs are not part of this checkout")
    docs = ids_in("docs")
    tests = set()
    for d, _, fs in os.walk(os.path.join(ROOT, "tests")):
        for f in fs:
            if f.endswith(".py"):
                with open(os.path.join(d, f), encoding="utf-8") as fh:
                    tests |= {int(n) for n in re.findall(r"def test_R(\d+)_", fh.read())}
    assert code, "no rule ids found in _semantics.py"
    assert sorted(code - docs) == [], "rule ids in the code but not in the docs"
    assert sorted(docs - code) == [], "rule ids in the docs but not in the code"
    assert sorted(code - tests) == [], "rule ids with no test named test_R<n>_..."
