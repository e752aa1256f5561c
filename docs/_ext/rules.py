"""Sphinx extension: the ``rule`` directive, the tests of each rule, the rule-id cross-check.

``.. rule:: R12`` states one rule of the semantics; it can be linked with
``:ref:`R12``` and lists the tests that check it.  ``.. rule-tests::`` renders
every test named ``test_R<n>_...`` under ``tests/``, grouped by rule.  When
the environment is complete, the build warns (an error under ``-W``) if a rule
id appears in ``pygreenlet/_semantics.py`` but has no ``rule`` directive, a
directive names an id the code does not have, or a rule has no test.
"""

from __future__ import annotations

import ast
import os
import re
from typing import Any, Dict, List, Set, Tuple

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEMANTICS = os.path.join(ROOT, "pygreenlet", "_semantics.py")
TESTS = os.path.join(ROOT, "tests")
RULE_ID = re.compile(r"\bR(\d+)\b")
TEST_NAME = re.compile(r"^test_R(\d+)_")

# (rule number, path relative to ROOT, line, qualified name, first docstring line)
Test = Tuple[int, str, int, str, str]


def rule_ids_in_code() -> Set[int]:
    """Every rule id the semantics module mentions in its comments and strings."""
    with open(SEMANTICS, encoding="utf-8") as f:
        return {int(n) for n in RULE_ID.findall(f.read())}


def collect_tests() -> List[Test]:
    """Every test function (module level or in a class) whose name starts ``test_R<n>_``."""
    found: List[Test] = []
    for top, dirs, files in os.walk(TESTS):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
        for name in sorted(files):
            if not (name.startswith("test_") and name.endswith(".py")):
                continue
            path = os.path.join(top, name)
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read(), path)
            rel = os.path.relpath(path, ROOT).replace(os.sep, "/")
            scopes: List[Tuple[str, Any]] = [("", tree)]
            while scopes:
                prefix, scope = scopes.pop(0)
                for node in scope.body:
                    if isinstance(node, ast.ClassDef):
                        scopes.append((prefix + node.name + "::", node))
                    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        m = TEST_NAME.match(node.name)
                        if m:
                            doc = (ast.get_docstring(node) or "").strip().splitlines()
                            found.append(
                                (
                                    int(m.group(1)),
                                    rel,
                                    node.lineno,
                                    prefix + node.name,
                                    doc[0] if doc else "",
                                )
                            )
    return found


def test_label(test: Test) -> str:
    """The (lower-case, as Sphinx stores them) label of a test's entry in the index."""
    _, rel, _, qualname, _ = test
    return "test-" + re.sub(r"[^a-z0-9]+", "-", (rel + "-" + qualname).lower()).strip("-")


_TESTS: Dict[int, List[Test]] = {}


def tests_by_rule(env: BuildEnvironment) -> Dict[int, List[Test]]:
    """Rule number -> its tests, read once per process (docs builds run with -E)."""
    if not _TESTS:
        for test in collect_tests():
            _TESTS.setdefault(test[0], []).append(test)
    return _TESTS


def rules_seen(env: BuildEnvironment) -> Dict[int, str]:
    """Rule number -> document that states it, kept in the environment across builds."""
    if not hasattr(env, "pyg_rules"):
        env.pyg_rules = {}  # type: ignore[attr-defined]
    return env.pyg_rules  # type: ignore[attr-defined]


def xref(target: str, text: str, docname: str) -> pending_xref:
    ref = pending_xref(
        "",
        refdomain="std",
        reftype="ref",
        reftarget=target,
        refexplicit=True,
        refwarn=True,
        refdoc=docname,
    )
    ref += nodes.inline(text, text)
    return ref


class RuleDirective(SphinxDirective):
    """``.. rule:: R<n>`` followed by the rule's statement as content."""

    required_arguments = 1
    has_content = True

    def run(self) -> List[nodes.Node]:
        rule_id = self.arguments[0]
        m = re.fullmatch(r"R(\d+)", rule_id)
        if not m:
            raise self.error("a rule id is R followed by a number, not %r" % rule_id)
        number = int(m.group(1))
        seen = rules_seen(self.env)
        if number in seen:
            logger.warning(
                "rule %s is stated twice (also in %s)",
                rule_id,
                seen[number],
                location=self.get_location(),
            )
        seen[number] = self.env.docname
        label = rule_id.lower()
        node_id = "rule-" + label
        self.env.get_domain("std").note_hyperlink_target(label, self.env.docname, node_id, rule_id)

        body = nodes.definition()
        self.state.nested_parse(self.content, self.content_offset, body)
        tests = tests_by_rule(self.env).get(number, [])
        if tests:
            para = nodes.paragraph(classes=["rule-tests"])
            para += nodes.emphasis("Checked by: ", "Checked by: ")
            for i, test in enumerate(tests):
                if i:
                    para += nodes.Text(", ")
                para += xref(test_label(test), test[3].split("::")[-1], self.env.docname)
            body += para
        item = nodes.definition_list_item()
        item += nodes.term(rule_id, "", nodes.strong(rule_id, rule_id))
        item += body
        dlist = nodes.definition_list(ids=[node_id], classes=["rule"])
        dlist += item
        return [dlist]


class RuleTestsDirective(SphinxDirective):
    """``.. rule-tests::``: every ``test_R<n>_...`` test, grouped by rule."""

    option_spec = {"rule": directives.unchanged}

    def run(self) -> List[nodes.Node]:
        std = self.env.get_domain("std")
        out: List[nodes.Node] = []
        for number, tests in sorted(tests_by_rule(self.env).items()):
            para = nodes.paragraph()
            para += xref("r%d" % number, "R%d" % number, self.env.docname)
            blist = nodes.bullet_list()
            for test in tests:
                _, rel, line, qualname, doc = test
                label = test_label(test)
                std.note_hyperlink_target(label, self.env.docname, label, qualname)
                entry = nodes.paragraph(ids=[label])
                entry += nodes.literal(qualname, qualname)
                entry += nodes.Text(" (%s, line %d)" % (rel, line))
                if doc:
                    entry += nodes.Text(": " + doc)
                blist += nodes.list_item("", entry)
            out += [para, blist]
        return out


def link_rule_ids(app: Sphinx, doctree: nodes.document) -> None:
    """Make the rule ids that API docstrings mention ("... (R19)") links to the rules."""
    from sphinx import addnodes

    docname = app.env.docname
    for content in doctree.findall(addnodes.desc_content):
        for text in list(content.findall(nodes.Text)):
            if isinstance(text.parent, (nodes.literal, nodes.literal_block, pending_xref)):
                continue
            source = str(text)
            pieces = RULE_ID.split(source)
            if len(pieces) == 1:
                continue
            new: List[nodes.Node] = []
            for i, piece in enumerate(pieces):
                if i % 2:
                    new.append(xref("r" + piece, "R" + piece, docname))
                elif piece:
                    new.append(nodes.Text(piece))
            text.parent.replace(text, new)


def purge(app: Sphinx, env: BuildEnvironment, docname: str) -> None:
    seen = rules_seen(env)
    for number in [n for n, doc in seen.items() if doc == docname]:
        del seen[number]


def merge(app: Sphinx, env: BuildEnvironment, docnames: Set[str], other: BuildEnvironment) -> None:
    rules_seen(env).update(rules_seen(other))


def check(app: Sphinx, env: BuildEnvironment) -> None:
    """Every rule id is in the code, the docs and a test name, or the build warns."""
    code = rule_ids_in_code()
    docs = set(rules_seen(env))
    tests = set(tests_by_rule(env))
    if not code:
        logger.warning("no rule ids found in %s", SEMANTICS)
    for number in sorted(code - docs):
        logger.warning(
            "rule R%d is in pygreenlet/_semantics.py but no '.. rule:: R%d' states it",
            number,
            number,
        )
    for number in sorted(docs - code):
        logger.warning(
            "rule R%d is stated in %s but pygreenlet/_semantics.py has no R%d",
            number,
            rules_seen(env)[number],
            number,
        )
    for number in sorted(code - tests):
        logger.warning("rule R%d has no test named test_R%d_...", number, number)


def setup(app: Sphinx) -> Dict[str, Any]:
    app.add_directive("rule", RuleDirective)
    app.add_directive("rule-tests", RuleTestsDirective)
    app.connect("doctree-read", link_rule_ids)
    app.connect("env-purge-doc", purge)
    app.connect("env-merge-info", merge)
    app.connect("env-check-consistency", check)
    return {
        "version": "1",
        "parallel_read_safe": True,
        "parallel_write_safe": True,
        "env_version": 1,
    }
