#!/usr/bin/env python3
"""Validates rendered Kubernetes manifests offline: schemas, then callscope's deployment rules.

    validate_manifests.py [--kubernetes-version V]... [--no-policy] FILE...

FILE: a YAML stream, typically `kubectl kustomize deploy/k8s/overlays/<name>` output.

1. Schemas. Every object of a built-in kind is validated against the Kubernetes OpenAPI schemas that the
   kubernetes-validate package ships, in strict mode (an unknown field is an error), for each version given
   (default: 1.30.0, the oldest we support, and 1.37.0). An object whose kind/apiVersion has no schema fails.

   Custom resources are NOT schema-validated: Kafka, KafkaNodePool, KafkaTopic (Strimzi) and
   ServiceMonitor, PrometheusRule (prometheus-operator). Their schemas come with the operators' CRDs, which
   are not part of Kubernetes, not in kubernetes-validate, and not vendored here (nothing is downloaded at
   test time). Instead they get the structural checks below (known top-level fields, required fields and
   types of what callscope relies on, cross-references). Validate them for real with a server-side dry run
   on a cluster that has the CRDs: kubectl apply --dry-run=server -k deploy/k8s/overlays/prod.

2. Rules (skipped with --no-policy, for renders that are not a whole deployment):
   - callscope's pods: runAsNonRoot, seccomp RuntimeDefault, no service account token, and per container
     readOnlyRootFilesystem, allowPrivilegeEscalation false, capabilities drop ALL, liveness on /healthz,
     readiness on /readyz, CPU and memory requests and a memory limit, an image with an explicit tag;
   - the processor's replicas <= the partitions of callscope.ingest.v1 (the KafkaTopic, and the TOML's
     bus.partitions when callscope may create the topic itself: both must agree);
   - topics: replicas <= brokers, min.insync.replicas < replicas when replicated;
   - Services, PDBs, HPAs, Ingresses, ServiceMonitors and NetworkPolicies point at things that exist
     (selectors match pods, named ports exist, HPA targets set no fixed replicas, every Ingress host has
     TLS, every callscope pod is covered by ingress and egress policies);
   - ConfigMaps referenced by pods exist in the render (Secrets are created outside the render).

Exits 1 and lists every problem if anything fails.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from dataclasses import dataclass, field
from typing import Any, Iterable

import yaml

try:
    import kubernetes_validate
    from kubernetes_validate import utils as kv_utils
except ImportError:  # pragma: no cover
    sys.exit("validate_manifests: the kubernetes-validate package is missing (run scripts/setup-deploy)")

DEFAULT_VERSIONS = ["1.30.0", "1.37.0"]
INGEST_TOPIC = "callscope.ingest.v1"

# Custom resources: kind -> (apiVersion, top-level spec fields known to exist in the CRD that we use).
CRD_KINDS = {
    "Kafka": "kafka.strimzi.io/v1beta2",
    "KafkaNodePool": "kafka.strimzi.io/v1beta2",
    "KafkaTopic": "kafka.strimzi.io/v1beta2",
    "ServiceMonitor": "monitoring.coreos.com/v1",
    "PrometheusRule": "monitoring.coreos.com/v1",
}
CRD_SPEC_FIELDS = {
    "Kafka": {"kafka", "zookeeper", "entityOperator", "cruiseControl", "kafkaExporter", "clusterCa",
              "clientsCa", "maintenanceTimeWindows", "jmxTrans"},
    "KafkaNodePool": {"replicas", "roles", "storage", "resources", "jvmOptions", "template"},
    "KafkaTopic": {"topicName", "partitions", "replicas", "config"},
    "ServiceMonitor": {"selector", "endpoints", "namespaceSelector", "jobLabel", "targetLabels",
                       "podTargetLabels", "sampleLimit", "targetLimit", "attachMetadata"},
    "PrometheusRule": {"groups"},
}


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")


def ident(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')}/{meta.get('name')}"


def labels_match(selector: dict | None, labels: dict) -> bool:
    """A LabelSelector (matchLabels + matchExpressions) against a label set. An empty selector matches all."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


# ---------------------------------------------------------------------------------------------- schemas


def validate_schemas(objects: list[dict], versions: list[str], report: Report) -> None:
    skipped: dict[str, int] = {}
    for obj in objects:
        kind = obj.get("kind")
        if kind in CRD_KINDS:
            skipped[kind] = skipped.get(kind, 0) + 1
            continue
        for version in versions:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kv_utils.SchemaNotFoundError as e:
                report.fail(ident(obj), f"no Kubernetes {version} schema: {e.message}")
            except kubernetes_validate.ValidationError as e:
                path = ".".join(str(p) for p in e.path) or "(top)"
                report.fail(ident(obj), f"invalid for Kubernetes {version} at {path}: {e.message}")
            except Exception as e:  # noqa: BLE001 - any other failure is a failure too
                report.fail(ident(obj), f"cannot validate for Kubernetes {version}: {e}")
    if skipped:
        listed = ", ".join(f"{k} x{n}" for k, n in sorted(skipped.items()))
        report.notes.append(f"custom resources not schema-validated (CRDs not in the Kubernetes schemas; "
                            f"structural checks instead): {listed}")


def check_custom_resources(objects: list[dict], report: Report) -> None:
    for obj in objects:
        kind = obj.get("kind")
        if kind not in CRD_KINDS:
            continue
        where = ident(obj)
        if obj.get("apiVersion") != CRD_KINDS[kind]:
            report.fail(where, f"apiVersion {obj.get('apiVersion')!r}, expected {CRD_KINDS[kind]!r}")
        unknown_top = set(obj) - {"apiVersion", "kind", "metadata", "spec"}
        if unknown_top:
            report.fail(where, f"unknown top-level fields {sorted(unknown_top)}")
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            report.fail(where, "spec missing")
            continue
        unknown = set(spec) - CRD_SPEC_FIELDS[kind]
        if unknown:
            report.fail(where, f"unknown spec fields {sorted(unknown)}")
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if kind in ("KafkaNodePool", "KafkaTopic") and not labels.get("strimzi.io/cluster"):
            report.fail(where, "needs the label strimzi.io/cluster")
        if kind == "KafkaTopic":
            for key in ("partitions", "replicas"):
                if not isinstance(spec.get(key), int) or isinstance(spec.get(key), bool) or spec[key] < 1:
                    report.fail(where, f"spec.{key} must be a positive integer, got {spec.get(key)!r}")
            if not isinstance(spec.get("topicName"), str):
                report.fail(where, "spec.topicName must be set (topic names with dots are not resource names)")
            config = spec.get("config") or {}
            if "retention.ms" not in config:
                report.fail(where, "spec.config.retention.ms must be stated")
        if kind == "KafkaNodePool":
            roles = spec.get("roles")
            if not isinstance(roles, list) or not roles or not set(roles) <= {"controller", "broker"}:
                report.fail(where, f"spec.roles must be a non-empty list of controller/broker, got {roles!r}")
            if not isinstance(spec.get("replicas"), int) or isinstance(spec.get("replicas"), bool):
                report.fail(where, f"spec.replicas must be an integer, got {spec.get('replicas')!r}")
            if (spec.get("storage") or {}).get("type") not in ("jbod", "persistent-claim", "ephemeral"):
                report.fail(where, "spec.storage.type must be jbod, persistent-claim or ephemeral")
        if kind == "Kafka":
            kafka = spec.get("kafka") or {}
            if not kafka.get("listeners"):
                report.fail(where, "spec.kafka.listeners must not be empty")
            if "replicas" in kafka or "storage" in kafka:
                report.fail(where, "with node pools, replicas and storage belong to the KafkaNodePools")
        if kind == "ServiceMonitor":
            if not spec.get("endpoints"):
                report.fail(where, "spec.endpoints must not be empty")
            if not (spec.get("selector") or {}).get("matchLabels"):
                report.fail(where, "spec.selector.matchLabels must be set")
        if kind == "PrometheusRule":
            groups = spec.get("groups")
            if not isinstance(groups, list) or not groups:
                report.fail(where, "spec.groups must not be empty")
                continue
            for group in groups:
                for rule in group.get("rules") or []:
                    if not rule.get("expr") or not (rule.get("alert") or rule.get("record")):
                        report.fail(where, f"group {group.get('name')}: rule without alert/record and expr")


# ---------------------------------------------------------------------------------------------- policy


def pod_spec(obj: dict) -> dict | None:
    if obj.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return ((obj.get("spec") or {}).get("template") or {}).get("spec")
    return None


def pod_labels(obj: dict) -> dict:
    return (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}


def check_pods(workloads: list[dict], report: Report) -> None:
    for obj in workloads:
        where = ident(obj)
        spec = pod_spec(obj) or {}
        sc = spec.get("securityContext") or {}
        if sc.get("runAsNonRoot") is not True:
            report.fail(where, "pod securityContext.runAsNonRoot must be true")
        if (sc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            report.fail(where, "pod securityContext.seccompProfile.type must be RuntimeDefault")
        if spec.get("automountServiceAccountToken") is not False:
            report.fail(where, "automountServiceAccountToken must be false (no service talks to the API server)")
        for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            cwhere = f"{where} container {container.get('name')}"
            csc = container.get("securityContext") or {}
            if csc.get("readOnlyRootFilesystem") is not True:
                report.fail(cwhere, "securityContext.readOnlyRootFilesystem must be true")
            if csc.get("allowPrivilegeEscalation") is not False:
                report.fail(cwhere, "securityContext.allowPrivilegeEscalation must be false")
            if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
                report.fail(cwhere, "securityContext.capabilities.drop must contain ALL")
            if csc.get("privileged"):
                report.fail(cwhere, "must not be privileged")
            live = ((container.get("livenessProbe") or {}).get("httpGet") or {}).get("path")
            ready = ((container.get("readinessProbe") or {}).get("httpGet") or {}).get("path")
            if live != "/healthz":
                report.fail(cwhere, f"livenessProbe must GET /healthz, has {live!r}")
            if ready != "/readyz":
                report.fail(cwhere, f"readinessProbe must GET /readyz, has {ready!r}")
            res = container.get("resources") or {}
            for kind in ("cpu", "memory"):
                if kind not in (res.get("requests") or {}):
                    report.fail(cwhere, f"resources.requests.{kind} must be set")
            if "memory" not in (res.get("limits") or {}):
                report.fail(cwhere, "resources.limits.memory must be set")
            image = container.get("image") or ""
            tag = image.rsplit("/", 1)[-1].partition(":")[2] if "@" not in image else "digest"
            if not tag or tag == "latest":
                report.fail(cwhere, f"image {image!r} needs an explicit tag (not latest)")


def ingest_partitions(objects: list[dict], report: Report) -> int | None:
    topic_partitions = None
    for obj in objects:
        if obj.get("kind") == "KafkaTopic" and (obj.get("spec") or {}).get("topicName") == INGEST_TOPIC:
            topic_partitions = (obj.get("spec") or {}).get("partitions")
    config_partitions = None
    for obj in objects:
        if obj.get("kind") == "ConfigMap" and "callscope.toml" in (obj.get("data") or {}):
            try:
                config = tomllib.loads(obj["data"]["callscope.toml"])
            except tomllib.TOMLDecodeError as e:
                report.fail(ident(obj), f"callscope.toml is not valid TOML: {e}")
                continue
            config_partitions = (config.get("bus") or {}).get("partitions")
    if isinstance(topic_partitions, int) and isinstance(config_partitions, int) \
            and topic_partitions != config_partitions:
        report.fail("ConfigMap callscope-config",
                    f"bus.partitions = {config_partitions} but the KafkaTopic {INGEST_TOPIC} has {topic_partitions}")
    result = topic_partitions if isinstance(topic_partitions, int) else config_partitions
    return result if isinstance(result, int) else None


def check_processor_bound(objects: list[dict], workloads: list[dict], report: Report) -> None:
    partitions = ingest_partitions(objects, report)
    processors = [w for w in workloads if pod_labels(w).get("app.kubernetes.io/component") == "processor"]
    if not processors:
        return
    if partitions is None:
        report.fail("processor", f"cannot find the partitions of {INGEST_TOPIC} (KafkaTopic or bus.partitions)")
        return
    for obj in processors:
        replicas = (obj.get("spec") or {}).get("replicas", 1)
        strategy = ((obj.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
        surge = strategy.get("maxSurge", "25%")
        if isinstance(replicas, int) and replicas > partitions:
            report.fail(ident(obj), f"{replicas} replicas but {INGEST_TOPIC} has {partitions} partitions: "
                                    "the extra consumers would sit idle")
        elif isinstance(replicas, int) and isinstance(surge, int) and replicas + surge > partitions:
            report.fail(ident(obj), f"replicas + maxSurge ({replicas}+{surge}) exceed {partitions} partitions")
    for obj in objects:
        if obj.get("kind") == "HorizontalPodAutoscaler":
            target = (obj.get("spec") or {}).get("scaleTargetRef") or {}
            if target.get("name") in {(p.get("metadata") or {}).get("name") for p in processors}:
                if (obj.get("spec") or {}).get("maxReplicas", 0) > partitions:
                    report.fail(ident(obj), f"maxReplicas exceeds the {partitions} partitions of {INGEST_TOPIC}")


def check_kafka(objects: list[dict], report: Report) -> None:
    pools = [o for o in objects if o.get("kind") == "KafkaNodePool"]
    if not pools:
        return
    brokers = sum((p.get("spec") or {}).get("replicas", 0) for p in pools
                  if "broker" in ((p.get("spec") or {}).get("roles") or []))
    if brokers < 1:
        report.fail("KafkaNodePools", "no node pool has the broker role")
    for obj in objects:
        if obj.get("kind") != "KafkaTopic":
            continue
        spec = obj.get("spec") or {}
        replicas = spec.get("replicas")
        min_isr = (spec.get("config") or {}).get("min.insync.replicas", 1)
        if isinstance(replicas, int) and replicas > brokers:
            report.fail(ident(obj), f"replicas {replicas} > {brokers} brokers")
        if isinstance(replicas, int) and isinstance(min_isr, int):
            if min_isr > replicas:
                report.fail(ident(obj), f"min.insync.replicas {min_isr} > replicas {replicas}: never writable")
            if replicas > 1 and min_isr >= replicas:
                report.fail(ident(obj), f"min.insync.replicas {min_isr} = replicas: one broker down stops writes")


def check_references(objects: list[dict], workloads: list[dict], report: Report) -> None:
    by_kind: dict[str, dict[str, dict]] = {}
    for obj in objects:
        by_kind.setdefault(obj.get("kind"), {})[(obj.get("metadata") or {}).get("name")] = obj
    deployments = by_kind.get("Deployment", {})
    services = by_kind.get("Service", {})
    configmaps = by_kind.get("ConfigMap", {})

    def container_ports(workload: dict) -> set:
        ports = set()
        for c in (pod_spec(workload) or {}).get("containers") or []:
            for p in c.get("ports") or []:
                ports.add(p.get("name"))
                ports.add(p.get("containerPort"))
        return ports

    def selected(selector: dict | None) -> list[dict]:
        return [w for w in workloads if labels_match(selector, pod_labels(w))]

    for name, svc in services.items():
        selector = (svc.get("spec") or {}).get("selector")
        if not selector:
            continue
        targets = selected({"matchLabels": selector})
        if not targets:
            report.fail(ident(svc), f"selector {selector} matches no pods")
        for port in (svc.get("spec") or {}).get("ports") or []:
            target = port.get("targetPort", port.get("port"))
            for w in targets:
                if target not in container_ports(w):
                    report.fail(ident(svc), f"targetPort {target!r} is not a port of {ident(w)}")

    for pdb in by_kind.get("PodDisruptionBudget", {}).values():
        if not selected((pdb.get("spec") or {}).get("selector")):
            report.fail(ident(pdb), "selector matches no pods")

    for hpa in by_kind.get("HorizontalPodAutoscaler", {}).values():
        spec = hpa.get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        target = deployments.get(ref.get("name")) if ref.get("kind") == "Deployment" else None
        if target is None:
            report.fail(ident(hpa), f"scaleTargetRef {ref} is not in the render")
        elif "replicas" in (target.get("spec") or {}):
            report.fail(ident(hpa), f"{ident(target)} sets spec.replicas, which every apply would reset")
        if spec.get("minReplicas", 1) > spec.get("maxReplicas", 0):
            report.fail(ident(hpa), "minReplicas > maxReplicas")

    for ing in by_kind.get("Ingress", {}).values():
        spec = ing.get("spec") or {}
        tls_hosts = {h for t in spec.get("tls") or [] for h in t.get("hosts") or []}
        for rule in spec.get("rules") or []:
            if rule.get("host") not in tls_hosts:
                report.fail(ident(ing), f"host {rule.get('host')!r} has no TLS")
            for path in (rule.get("http") or {}).get("paths") or []:
                backend = (path.get("backend") or {}).get("service") or {}
                svc = services.get(backend.get("name"))
                if svc is None:
                    report.fail(ident(ing), f"backend Service {backend.get('name')!r} is not in the render")
                    continue
                port = backend.get("port") or {}
                names = {p.get("name") for p in (svc.get("spec") or {}).get("ports") or []}
                numbers = {p.get("port") for p in (svc.get("spec") or {}).get("ports") or []}
                if port.get("name") not in names and port.get("number") not in numbers:
                    report.fail(ident(ing), f"backend port {port} is not a port of {ident(svc)}")

    for sm in by_kind.get("ServiceMonitor", {}).values():
        spec = sm.get("spec") or {}
        matching = [s for s in services.values()
                    if labels_match(spec.get("selector"), (s.get("metadata") or {}).get("labels") or {})]
        if services and not matching:
            report.fail(ident(sm), "selector matches no Service")
        for endpoint in spec.get("endpoints") or []:
            for svc in matching:
                names = {p.get("name") for p in (svc.get("spec") or {}).get("ports") or []}
                if endpoint.get("port") not in names:
                    report.fail(ident(sm), f"endpoint port {endpoint.get('port')!r} is not a port of {ident(svc)}")

    policies = list(by_kind.get("NetworkPolicy", {}).values())
    for w in workloads:
        labels = pod_labels(w)
        covering = [p for p in policies if labels_match((p.get("spec") or {}).get("podSelector"), labels)]
        types = {t for p in covering for t in (p.get("spec") or {}).get("policyTypes") or []}
        for needed in ("Ingress", "Egress"):
            if needed not in types:
                report.fail(ident(w), f"no NetworkPolicy restricts its {needed.lower()}")

    for w in workloads:
        spec = pod_spec(w) or {}
        refs = {v["configMap"].get("name") for v in spec.get("volumes") or [] if v.get("configMap")}
        for c in spec.get("containers") or []:
            for env in c.get("env") or []:
                ref = ((env.get("valueFrom") or {}).get("configMapKeyRef") or {}).get("name")
                if ref:
                    refs.add(ref)
            for source in c.get("envFrom") or []:
                if source.get("configMapRef"):
                    refs.add(source["configMapRef"].get("name"))
        for ref in sorted(r for r in refs if r not in configmaps):
            report.fail(ident(w), f"ConfigMap {ref!r} is not in the render")

    namespaces = list(by_kind.get("Namespace", {}))
    if len(namespaces) == 1:
        for obj in objects:
            ns = (obj.get("metadata") or {}).get("namespace")
            if obj.get("kind") != "Namespace" and ns not in (None, namespaces[0]):
                report.fail(ident(obj), f"namespace {ns!r}, the render's Namespace is {namespaces[0]!r}")


def check_policy(objects: list[dict], report: Report) -> None:
    workloads = [o for o in objects if pod_spec(o) is not None
                 and pod_labels(o).get("app.kubernetes.io/name") == "callscope"]
    if not workloads:
        report.fail("render", "no callscope workload found")
    check_pods(workloads, report)
    check_processor_bound(objects, workloads, report)
    check_kafka(objects, report)
    check_references(objects, workloads, report)


# ---------------------------------------------------------------------------------------------- main


def load(paths: Iterable[str], report: Report) -> list[dict]:
    objects = []
    for path in paths:
        try:
            with open(path) as f:
                docs = list(yaml.safe_load_all(f))
        except (OSError, yaml.YAMLError) as e:
            report.fail(path, f"cannot read: {e}")
            continue
        for doc in docs:
            if doc is None:
                continue
            if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
                report.fail(path, f"not a Kubernetes object: {str(doc)[:80]}")
                continue
            objects.append(doc)
    return objects


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--kubernetes-version", "-k", action="append", dest="versions",
                        help=f"repeatable; default {' '.join(DEFAULT_VERSIONS)}")
    parser.add_argument("--no-policy", action="store_true", help="schemas and custom-resource checks only")
    args = parser.parse_args()
    versions = args.versions or DEFAULT_VERSIONS

    report = Report()
    objects = load(args.files, report)
    if not objects and not report.problems:
        report.fail(" ".join(args.files), "no objects")
    validate_schemas(objects, versions, report)
    check_custom_resources(objects, report)
    if not args.no_policy:
        check_policy(objects, report)

    label = " ".join(args.files)
    for note in report.notes:
        print(f"validate_manifests: {label}: note: {note}")
    if report.problems:
        for problem in report.problems:
            print(f"validate_manifests: {label}: FAIL: {problem}", file=sys.stderr)
        return 1
    kinds = sorted({o["kind"] for o in objects})
    print(f"validate_manifests: {label}: ok: {len(objects)} objects ({', '.join(kinds)}), "
          f"Kubernetes {', '.join(versions)}{'' if args.no_policy else ', deployment rules'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
