#!/usr/bin/env python3
"""Prints the PrometheusRule (prometheus-operator) that embeds the groups of deploy/prometheus/rules.yml.

    deploy/prometheus/to_prometheusrule.py > deploy/k8s/monitoring/prometheusrule.yaml

rules.yml is the source (promtool checks and unit-tests it); scripts/test-deploy fails when the committed
PrometheusRule differs from what this prints. Needs PyYAML (the deploy venv has it).
"""

import sys
from pathlib import Path

import yaml

RULES = Path(__file__).resolve().parent / "rules.yml"

HEADER = """\
# GENERATED from deploy/prometheus/rules.yml by deploy/prometheus/to_prometheusrule.py: do not edit here.
# Prometheus (operator) picks it up when its ruleSelector matches these labels; with kube-prometheus-stack,
# add the label `release: <your release name>` in an overlay, or set
# prometheus.prometheusSpec.ruleSelectorNilUsesHelmValues=false.
"""


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render(rules_path: Path = RULES) -> str:
    groups = yaml.safe_load(rules_path.read_text())["groups"]
    resource = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "callscope",
            "labels": {
                "app.kubernetes.io/name": "callscope",
                "app.kubernetes.io/part-of": "callscope",
            },
        },
        "spec": {"groups": groups},
    }
    return HEADER + yaml.dump(resource, Dumper=_Dumper, sort_keys=False, width=110, allow_unicode=True)


if __name__ == "__main__":
    sys.stdout.write(render(Path(sys.argv[1]) if len(sys.argv) > 1 else RULES))
