"""The Kubernetes manifests of `bastion gen deploy`, as plain dicts written as YAML.

The admin listener (probes, `/metrics`, `/debug`) binds every interface inside the pod,
because the kubelet's probes and Prometheus' scrapes come from outside the container's
loopback; it is still never a port of the public Service, and a NetworkPolicy admits
only the monitoring namespace (and the node, whose probes a policy never blocks) to it.
"""

from __future__ import annotations

from typing import Any

import yaml

from bastion.cli._deploy_model import Plan
from bastion.config import format_duration

__all__ = ["manifests", "seconds", "to_yaml"]

_UID = 10001  # the image's user; numeric so `runAsNonRoot` can be checked


def seconds(value: float) -> str:
    """`value` seconds as `sleep` reads them: "5", "2.5", "0.25"."""
    return str(int(value)) if value == int(value) else f"{value:.6f}".rstrip("0")


def _meta(plan: Plan, name: str, **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {**plan.labels, **labels}}
    if plan.options.namespace:
        meta["namespace"] = plan.options.namespace
    return meta


def _env(plan: Plan) -> list[dict[str, Any]]:
    # Every variable of the config is named here, so `kubectl describe` shows them all;
    # those without a value are optional references, set by adding the key.
    out = []
    for v in plan.variables:
        if v.secret:
            ref = {"secretKeyRef": {"name": plan.secret_name, "key": v.name,
                                    "optional": not v.required}}
        else:
            ref = {"configMapKeyRef": {"name": plan.config_name, "key": v.name,
                                       "optional": v.value is None}}
        out.append({"name": v.name, "valueFrom": ref})
    return out


def _probe(path: str, port: str, period: int, failures: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": period,
            "timeoutSeconds": 2, "failureThreshold": failures}


def deployment(plan: Plan) -> dict[str, Any]:
    """The Deployment: probes, preStop delay, grace period, resources, hardened pod."""
    o = plan.options
    ports = [{"name": "http", "containerPort": plan.http_port, "protocol": "TCP"},
             {"name": "grpc", "containerPort": plan.grpc_port, "protocol": "TCP"}]
    # Probes go to the admin listener: it keeps answering through the drain, while the
    # API listener closes SHUTDOWN_DELAY after the SIGTERM.
    probe_port = "http"
    if plan.admin_port is not None:
        ports.append({"name": "admin", "containerPort": plan.admin_port, "protocol": "TCP"})
        probe_port = "admin"
    resources: dict[str, Any] = {"requests": {"cpu": o.cpu, "memory": o.memory},
                                 "limits": {"memory": o.memory_limit or o.memory}}
    if o.cpu_limit:
        resources["limits"]["cpu"] = o.cpu_limit
    container = {
        "name": plan.name,
        "image": plan.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": ports,
        "env": _env(plan),
        "livenessProbe": _probe("/livez", probe_port, 10, 3),
        "readinessProbe": _probe("/readyz", probe_port, 5, 2),
        "startupProbe": _probe("/livez", probe_port, 2, 30),
        # Kubernetes runs this before the SIGTERM, while endpoints stop routing here.
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", seconds(plan.shutdown_delay)]}}},
        "resources": resources,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": _UID,
            "runAsGroup": _UID,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    annotations = {}
    if plan.admin_port is not None:
        annotations = {"prometheus.io/scrape": "true", "prometheus.io/port": str(plan.admin_port),
                       "prometheus.io/path": "/metrics"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(plan, plan.name, **{"app.kubernetes.io/version": plan.api.version}),
        "spec": {
            "replicas": o.replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": plan.labels},
            # A new pod is ready before an old one goes: a rollout never drops capacity.
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": {**plan.labels, "app.kubernetes.io/component": "api"},
                             "annotations": annotations},
                "spec": {
                    "terminationGracePeriodSeconds": plan.grace_seconds,
                    "automountServiceAccountToken": False,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": _UID,
                                        "runAsGroup": _UID, "fsGroup": _UID,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                },
            },
        },
    }


def service(plan: Plan) -> dict[str, Any]:
    """The public Service: the API and gRPC ports, never the admin one."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(plan, plan.name, **{"app.kubernetes.io/component": "api"}),
        "spec": {
            "type": "ClusterIP",
            "selector": plan.labels,
            "ports": [
                {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                {"name": "grpc", "port": plan.grpc_port, "targetPort": "grpc",
                 "protocol": "TCP", "appProtocol": "grpc"},
            ],
        },
    }


def admin_service(plan: Plan) -> dict[str, Any]:
    """A headless Service of the admin port alone, for the ServiceMonitor to select."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(plan, f"{plan.name}-admin", **{"app.kubernetes.io/component": "admin"}),
        "spec": {"clusterIP": "None", "selector": plan.labels,
                 "ports": [{"name": "admin", "port": plan.admin_port, "targetPort": "admin",
                            "protocol": "TCP"}]},
    }


def service_monitor(plan: Plan) -> dict[str, Any]:
    """A Prometheus Operator ServiceMonitor scraping `/metrics` of the admin Service."""
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {**plan.labels, "app.kubernetes.io/component": "admin"}},
        "endpoints": [{"port": "admin", "path": "/metrics", "interval": "15s"}],
    }
    if plan.options.namespace:
        spec["namespaceSelector"] = {"matchNames": [plan.options.namespace]}
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": _meta(plan, plan.name), "spec": spec}


def autoscaler(plan: Plan) -> dict[str, Any]:
    """A HorizontalPodAutoscaler on CPU, from `--replicas` to `--max-replicas`."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(plan, plan.name),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": plan.name},
            "minReplicas": plan.options.replicas,
            "maxReplicas": plan.max_replicas,
            "metrics": [{"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
        },
    }


def disruption_budget(plan: Plan) -> dict[str, Any]:
    """A PodDisruptionBudget: node drains take one pod at a time."""
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": _meta(plan, plan.name),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": plan.labels}}}


def network_policy(plan: Plan) -> dict[str, Any]:
    """Ingress: the API ports from anywhere, the admin port from the monitoring namespace."""
    ingress: list[dict[str, Any]] = [
        {"ports": [{"port": "http", "protocol": "TCP"}, {"port": "grpc", "protocol": "TCP"}]}]
    if plan.admin_port is not None:
        ingress.append({
            "from": [{"namespaceSelector": {"matchLabels": {
                "kubernetes.io/metadata.name": plan.options.monitoring_namespace}}}],
            "ports": [{"port": "admin", "protocol": "TCP"}],
        })
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": _meta(plan, plan.name),
            "spec": {"podSelector": {"matchLabels": plan.labels}, "policyTypes": ["Ingress"],
                     "ingress": ingress}}


def config_map(plan: Plan) -> dict[str, Any]:
    """The ConfigMap: every variable that has a value and is not a secret."""
    data = {v.name: v.value for v in plan.variables if not v.secret and v.value is not None}
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": _meta(plan, plan.config_name), "data": data}


def secret_example(plan: Plan) -> dict[str, Any]:
    """An example Secret with a placeholder per secret variable (never a real value)."""
    data = {v.name: f"<{v.name.lower().replace('_', '-')}>" for v in plan.variables if v.secret}
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": _meta(plan, plan.secret_name), "stringData": data}


class _Dumper(yaml.SafeDumper):
    """Writes a shared object twice rather than as a YAML alias, which readers trip on."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(doc: dict[str, Any], header: str = "") -> str:
    """`doc` as YAML, keys in the order written, after `header` comment lines."""
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)
    lines = "".join(f"# {line}\n".replace("# \n", "#\n") for line in header.splitlines())
    return lines + body


def manifests(plan: Plan) -> dict[str, str]:
    """Every manifest, by file name under `kubernetes/`."""
    unset = [v for v in plan.variables if not v.secret and v.value is None]
    secrets = [v for v in plan.variables if v.secret]
    cm_header = (
        "Every variable of the app that is not a secret. Unset here, the app's default\n"
        "applies; add a key to set one:\n"
        + "".join(f"  {v.name}: {v.description}\n" for v in unset)
    )
    create = " ".join(f"--from-literal={v.name}=..." for v in secrets)
    secret_header = (
        "An example only: kubectl applies *.yaml, never this file. Create the real Secret\n"
        f"with your values, e.g.\n  kubectl create secret generic {plan.secret_name} {create}\n"
        + "".join(f"  {v.name}{' (required)' if v.required else ''}: {v.description}\n"
                  for v in secrets)
    )
    files = {
        "configmap.yaml": to_yaml(config_map(plan), cm_header),
        "secret.yaml.example": to_yaml(secret_example(plan), secret_header),
        "deployment.yaml": to_yaml(deployment(plan), (
            f"preStop sleeps SHUTDOWN_DELAY ({format_duration(plan.shutdown_delay)}); the grace "
            f"period ({plan.grace_seconds}s) is above\npreStop + SHUTDOWN_DELAY + 2 x "
            f"SHUTDOWN_TIMEOUT ({format_duration(plan.shutdown_timeout)}) + "
            "a margin: the worst shutdown.")),
        "service.yaml": to_yaml(service(plan)),
        "hpa.yaml": to_yaml(autoscaler(plan)),
        "pdb.yaml": to_yaml(disruption_budget(plan)),
        "networkpolicy.yaml": to_yaml(network_policy(plan)),
    }
    if plan.options.service_monitor and plan.admin_port is not None:
        files["admin-service.yaml"] = to_yaml(admin_service(plan))
        files["servicemonitor.yaml"] = to_yaml(service_monitor(plan), (
            "Needs the Prometheus Operator's CRDs. Scrapes the admin port through the headless\n"
            "admin Service, which is not the public one."))
    return files
