#!/usr/bin/env python3
"""Checks that every metric the alert rules and the dashboards use is one the services export.

    check_metrics.py EXPORTED_NAMES FILE...

EXPORTED_NAMES: one metric name a line (blank lines and `#` comments ignored), optionally followed by its
type (counter, gauge, histogram, summary). deploy/metrics-exported.txt is that list; the test suite can
generate it from the services' METRIC_NAMES constants.

FILE: a Prometheus rule file or a YAML stream holding PrometheusRule objects (every rule's `expr`), or a
Grafana dashboard JSON (every panel target's `expr`, rows and nested panels included, and the templating
queries). A histogram's series `<name>_bucket`, `<name>_sum` and `<name>_count` count as `<name>`.

Exits 1, naming the file, the expression and the metric, when a name is not exported, when a file holds
no expression at all (a check that checks nothing), or when a dashboard panel has no target, a target
without an expression, a duplicate id or a position outside Grafana's 24-column grid. Prints which exported metrics nothing uses (information only).

Only the standard library and PyYAML.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Iterator

import yaml

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

# PromQL words that look like identifiers but are not metric names.
KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "offset", "bool", "inf", "nan", "start", "end",
}

IDENT = re.compile(r"(?<![\w.:])[A-Za-z_:][A-Za-z0-9_:]*")
STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
GRAFANA_VARIABLES = re.compile(r"\$\{[^}]*\}|\$\w+")
LABEL_MATCHERS = re.compile(r"\{[^{}]*\}")
RANGES = re.compile(r"\[[^\[\]]*\]")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:([A-Za-z_:][\w:]*)\s*(?:\{[^}]*\})?\s*,)?\s*\w+\s*\)\s*$")


def metric_names(expr: str) -> list[str]:
    """The metric names a PromQL expression (possibly with Grafana variables) selects."""
    labels = LABEL_VALUES.match(expr)
    if labels:  # Grafana's label_values(metric, label) or label_values(label)
        return [labels.group(1)] if labels.group(1) else []
    s = GRAFANA_VARIABLES.sub(" 1 ", expr)
    s = STRINGS.sub(' "" ', s)
    s = LABEL_MATCHERS.sub(" ", s)
    s = RANGES.sub(" ", s)
    s = GROUPING.sub(" ", s)
    names = []
    for match in IDENT.finditer(s):
        token = match.group(0)
        if token.lower() in KEYWORDS:
            continue
        if s[match.end():].lstrip().startswith("("):
            continue  # a function or an aggregation
        names.append(token)
    return names


def load_exported(path: Path) -> dict[str, str | None]:
    exported: dict[str, str | None] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if not re.fullmatch(r"[A-Za-z_:][A-Za-z0-9_:]*", fields[0]) or len(fields) > 2:
            raise SystemExit(f"{path}:{number}: not a metric name [type]: {raw!r}")
        kind = fields[1] if len(fields) == 2 else None
        if kind not in (None, "counter", "gauge", "histogram", "summary"):
            raise SystemExit(f"{path}:{number}: unknown metric type {kind!r}")
        exported[fields[0]] = kind
    if not exported:
        raise SystemExit(f"{path}: no metric names")
    return exported


def resolve(name: str, exported: dict[str, str | None]) -> str | None:
    """The exported metric a series name belongs to, or None."""
    if name in exported:
        if exported[name] in ("histogram", "summary"):
            return None  # a histogram has no series under its bare name
        return name
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            kind = exported.get(base, "absent")
            if kind == "absent":
                return None
            if kind in ("counter", "gauge") or (kind is None and base.endswith("_total")):
                return None  # counters and gauges have no _bucket/_sum/_count series
            if kind == "summary" and suffix == "_bucket":
                return None
            return base
    return None


def rule_expressions(path: Path) -> Iterator[tuple[str, str]]:
    for doc in yaml.safe_load_all(path.read_text()):
        if not isinstance(doc, dict):
            continue
        if doc.get("kind") == "PrometheusRule":
            groups = (doc.get("spec") or {}).get("groups") or []
        elif "groups" in doc:
            groups = doc["groups"] or []
        else:
            continue
        for group in groups:
            for rule in group.get("rules") or []:
                name = rule.get("alert") or rule.get("record") or "?"
                yield f"{group.get('name')}/{name}", str(rule.get("expr", ""))


def dashboard_expressions(path: Path, problems: list[str]) -> Iterator[tuple[str, str]]:
    dashboard = json.loads(path.read_text())

    def panels(items: list) -> Iterator[dict]:
        for panel in items or []:
            yield panel
            yield from panels(panel.get("panels") or [])

    seen_ids: set = set()
    for panel in panels(dashboard.get("panels") or []):
        title = panel.get("title", "?")
        if panel.get("id") in seen_ids:
            problems.append(f"{path}: panel {title!r}: duplicate id {panel.get('id')}")
        seen_ids.add(panel.get("id"))
        grid = panel.get("gridPos") or {}
        if not all(isinstance(grid.get(k), int) for k in ("x", "y", "w", "h")) or grid["x"] + grid["w"] > 24:
            problems.append(f"{path}: panel {title!r}: gridPos {grid} is not within the 24-column grid")
        if panel.get("type") == "row":
            continue
        targets = panel.get("targets") or []
        if not targets:
            problems.append(f"{path}: panel {title!r} has no targets")
        for target in targets:
            expr = target.get("expr")
            if not expr:
                problems.append(f"{path}: panel {title!r} target {target.get('refId')} has no expr")
                continue
            yield f"panel {title!r}", expr
    for variable in (dashboard.get("templating") or {}).get("list") or []:
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if query:
            yield f"variable {variable.get('name')!r}", query


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    exported = load_exported(Path(argv[1]))
    problems: list[str] = []
    used: set[str] = set()
    for file in map(Path, argv[2:]):
        if file.suffix == ".json":
            expressions = list(dashboard_expressions(file, problems))
        else:
            expressions = list(rule_expressions(file))
        if not expressions:
            problems.append(f"{file}: no expression found")
        names_in_file = set()
        for where, expr in expressions:
            names = metric_names(expr)
            if not names and not where.startswith("variable"):
                problems.append(f"{file}: {where}: selects no metric: {expr.strip()}")
            for name in names:
                base = resolve(name, exported)
                if base is None:
                    problems.append(f"{file}: {where}: unknown metric {name!r} in: {' '.join(expr.split())}")
                else:
                    used.add(base)
                    names_in_file.add(base)
        print(f"check_metrics: {file}: {len(expressions)} expressions, {len(names_in_file)} distinct metrics")
    unused = sorted(set(exported) - used)
    if unused:
        print(f"check_metrics: exported but used nowhere (information): {', '.join(unused)}")
    if problems:
        for problem in problems:
            print(f"check_metrics: FAIL: {problem}", file=sys.stderr)
        return 1
    print(f"check_metrics: ok: every metric used is among the {len(exported)} exported")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
