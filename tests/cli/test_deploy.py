"""`bastion gen deploy`: valid manifests, a Dockerfile that keeps its rules, honest timings."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import dockerfile
import httpx
import kubernetes_validate
import pytest
import yaml
from examples.orders.design import api as orders_api
from examples.orders.main import Settings
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.cli import main
from bastion.cli.deploy import (
    DEFAULT_SHUTDOWN_DELAY,
    MARGIN,
    DeployOptions,
    make_plan,
    plan_for,
    render,
)
from bastion.config import load, parse_duration
from tests.support.paths import ROOT
from tests.support.served import console_script, user_env
from tests.support.servers import free_port, wait_for_port

# Two Kubernetes versions apart, and the newest the package ships.
K8S_VERSIONS = ("1.29", "1.33", kubernetes_validate.latest_version())


def _plan(env: dict[str, str] | None = None, **options: Any) -> Any:
    config = load(Settings, env=env or {})
    return make_plan(orders_api, config, "examples.orders.main:app", DeployOptions(**options),
                     ["examples"])


def _docs(files: dict[str, str], name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(files[name]) if d]


def _manifests(files: dict[str, str]) -> dict[str, dict[str, Any]]:
    out = {}
    for name in files:
        if name.startswith("kubernetes/"):
            (doc,) = _docs(files, name)
            out[name.removeprefix("kubernetes/")] = doc
    return out


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_manifest_validates_against_kubernetes_schemas(version: str) -> None:
    files = render(_plan(service_monitor=True, namespace="shop", cpu_limit="1"))
    docs = _manifests(files)
    assert set(docs) == {"configmap.yaml", "secret.yaml.example", "deployment.yaml",
                         "service.yaml", "hpa.yaml", "pdb.yaml", "networkpolicy.yaml",
                         "admin-service.yaml", "servicemonitor.yaml"}
    checked = set()
    for doc in docs.values():
        if doc["kind"] == "ServiceMonitor":
            # A CRD of the Prometheus Operator: no schema ships with kubernetes-validate.
            with pytest.raises(kubernetes_validate.SchemaNotFoundError):
                kubernetes_validate.validate(doc, version, strict=True)
            continue
        kubernetes_validate.validate(doc, version, strict=True)  # raises on any problem
        assert doc["metadata"]["namespace"] == "shop"
        checked.add(doc["kind"])
    assert checked == {"ConfigMap", "Secret", "Deployment", "Service",
                       "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"}


def test_the_service_monitor_scrapes_the_admin_service_and_the_public_one_hides_it() -> None:
    docs = _manifests(render(_plan(service_monitor=True)))
    monitor, admin = docs["servicemonitor.yaml"], docs["admin-service.yaml"]
    public, deploy = docs["service.yaml"], docs["deployment.yaml"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= admin["metadata"]["labels"].items()
    assert not selector.items() <= public["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("admin", "/metrics")
    assert [p["name"] for p in admin["spec"]["ports"]] == ["admin"]
    assert [p["name"] for p in public["spec"]["ports"]] == ["http", "grpc"]
    pod = deploy["spec"]["template"]
    assert pod["metadata"]["annotations"] == {"prometheus.io/scrape": "true",
                                              "prometheus.io/port": "8081",
                                              "prometheus.io/path": "/metrics"}
    # Every selector picks the Deployment's pods.
    for doc in (admin, public):
        assert doc["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    policy = docs["networkpolicy.yaml"]["spec"]["ingress"]
    assert policy[1] == {"from": [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "monitoring"}}}],
        "ports": [{"port": "admin", "protocol": "TCP"}]}
    assert "servicemonitor.yaml" not in _manifests(render(_plan()))  # optional


def test_the_deployment_probes_ports_resources_and_hardening() -> None:
    docs = _manifests(render(_plan(cpu="500m", memory="384Mi", replicas=3, image="reg/o:1")))
    spec = docs["deployment.yaml"]["spec"]
    pod = spec["template"]["spec"]
    (c,) = pod["containers"]
    assert spec["replicas"] == 3 and c["image"] == "reg/o:1"
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {
        "http": 8080, "grpc": 8082, "admin": 8081}
    assert c["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "admin"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert c["resources"] == {"requests": {"cpu": "500m", "memory": "384Mi"},
                              "limits": {"memory": "384Mi"}}
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["runAsNonRoot"] is True
    assert sc["runAsUser"] != 0 and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert c["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"][0]["name"] == "tmp" and "emptyDir" in pod["volumes"][0]
    hpa, pdb = docs["hpa.yaml"]["spec"], docs["pdb.yaml"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 9)
    assert hpa["scaleTargetRef"]["name"] == docs["deployment.yaml"]["metadata"]["name"]
    assert pdb["maxUnavailable"] == 1


def test_every_variable_comes_from_the_config_map_or_the_secret_by_type() -> None:
    env = {"JWT_SECRET": "s3cret-jwt-value-xyz", "API_KEYS": "demo:k3y-value-abc",
           "REDIS_URL": "redis://:r3dis-pass@cache:6379/0", "READ_TIMEOUT": "45s",
           "DATABASE_URL": "sqlite:////data/orders.db"}
    files = render(_plan(env))
    docs = _manifests(files)
    (c,) = docs["deployment.yaml"]["spec"]["template"]["spec"]["containers"]
    refs = {e["name"]: e["valueFrom"] for e in c["env"]}
    fields = Settings.model_fields
    assert set(refs) == {name.upper() for name in fields}  # every variable, no other
    secrets = {n for n, r in refs.items() if "secretKeyRef" in r}
    # By type (JWT_SECRET, API_KEYS, OTEL_EXPORTER_OTLP_HEADERS are `Secret`), and a URL
    # that carries a password; AUTH_FAILURES_PER_CREDENTIAL holds a rate, not a secret.
    assert secrets == {"JWT_SECRET", "API_KEYS", "OTEL_EXPORTER_OTLP_HEADERS", "REDIS_URL"}
    data = docs["configmap.yaml"]["data"]
    assert not secrets & set(data)
    assert data["AUTH_FAILURES_PER_CREDENTIAL"] == "10/minute"
    for name, ref in refs.items():
        if name in data:
            assert ref == {"configMapKeyRef": {"name": "orders-config", "key": name,
                                               "optional": False}}
    assert refs["MAX_CONCURRENCY"]["configMapKeyRef"]["optional"] is True  # unset: default
    everything = "".join(files.values())
    for value in ("s3cret-jwt-value-xyz", "k3y-value-abc", "r3dis-pass"):
        assert value not in everything
    assert set(docs["secret.yaml.example"]["stringData"]) == secrets
    # What the ConfigMap holds reads back as the same configuration.
    reread = load(Settings, env=data)
    assert reread.read_timeout == 45.0 and reread.database_url == "sqlite:////data/orders.db"
    assert reread.admin_addr == "0.0.0.0:8081" and reread.http_addr == ":8080"
    assert reread.shutdown_delay == DEFAULT_SHUTDOWN_DELAY  # the config said 0


durations = st.floats(min_value=0, max_value=600, allow_nan=False).map(lambda x: round(x, 3))


@settings(max_examples=60, deadline=None)
@given(delay=durations, timeout=durations, option=st.none() | durations)
def test_the_timings_hold_for_any_config(delay: float, timeout: float,
                                         option: float | None) -> None:
    plan = _plan({"SHUTDOWN_DELAY": f"{delay}s", "SHUTDOWN_TIMEOUT": f"{timeout}s"},
                 shutdown_delay=option)
    docs = _manifests(render(plan))
    pod = docs["deployment.yaml"]["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    data = docs["configmap.yaml"]["data"]
    effective = option if option is not None else (delay or DEFAULT_SHUTDOWN_DELAY)
    cmd = c["lifecycle"]["preStop"]["exec"]["command"]
    assert cmd[0] == "sleep" and float(cmd[1]) == pytest.approx(effective, abs=1e-6)
    assert parse_duration(data["SHUTDOWN_DELAY"]) == pytest.approx(effective, abs=1e-6)
    assert parse_duration(data["SHUTDOWN_TIMEOUT"]) == pytest.approx(timeout, abs=1e-6)
    grace = pod["terminationGracePeriodSeconds"]
    assert isinstance(grace, int)
    # docs/server.md's worst case, and the preStop sleep Kubernetes counts before it.
    assert grace > effective + 2 * timeout + MARGIN
    assert grace > float(cmd[1]) + effective + timeout + max(timeout, 5.0) + MARGIN
    kubernetes_validate.validate(docs["deployment.yaml"], K8S_VERSIONS[0], strict=True)


def _stages(text: str) -> list[list[Any]]:
    stages: list[list[Any]] = []
    for cmd in dockerfile.parse_string(text):
        if cmd.cmd == "FROM":
            stages.append([])
        elif stages:
            stages[-1].append(cmd)
        else:
            assert cmd.cmd == "ARG"
    return stages


def test_the_dockerfile_keeps_its_rules() -> None:
    text = render(_plan())["Dockerfile"]
    commands = dockerfile.parse_string(text)
    froms = [c for c in commands if c.cmd == "FROM"]
    assert len(froms) == 2 and froms[0].value[1:] == ("AS", "builder")
    builder, final = _stages(text)
    assert any(c.cmd == "RUN" and "python -m venv /opt/venv" in c.value[0] for c in builder)
    assert any(c.cmd == "RUN" and c.value[0].startswith("pip install") for c in builder)
    copies = [c for c in final if c.cmd == "COPY"]
    assert [c.value for c in copies] == [("/opt/venv", "/opt/venv"),
                                          ("/src/examples", "/app/examples")]
    assert all("--from=builder" in c.flags for c in copies)  # nothing from the context
    runs = [c.value[0] for c in final if c.cmd == "RUN"]
    assert len(runs) == 1 and runs[0].startswith("groupadd") and "useradd" in runs[0]
    for tool in ("apt-get", "pip", "gcc", "build-essential", "curl", "wget"):
        assert tool not in " ".join(runs)
    (user,) = [c for c in final if c.cmd == "USER"]
    assert user.value[0].split(":")[0] not in ("0", "root")
    (stop,) = [c for c in final if c.cmd == "STOPSIGNAL"]
    assert stop.value == ("SIGTERM",)
    (cmd,) = [c for c in final if c.cmd == "CMD"]
    assert cmd.json and cmd.value == ("bastion", "serve", "examples.orders.main:app")
    (health,) = [c for c in final if c.cmd == "HEALTHCHECK"]
    assert health.json and health.value[:3] == ("CMD", "python", "-c")
    assert "--retries=3" in health.flags
    assert "http://127.0.0.1:8080/livez" in health.value[3]
    assert "curl" not in health.value[3]
    assert ignored(render(_plan())["Dockerfile.dockerignore"]) >= {".git", ".venv"}


def ignored(text: str) -> set[str]:
    return {line for line in text.splitlines() if line and not line.startswith("#")}


def test_the_collector_receives_otlp_batches_and_exports_where_told() -> None:
    for exporter, endpoint in (("otlphttp", "https://otlp.example.com"), ("otlp", None),
                               ("debug", None)):
        files = render(_plan(exporter=exporter, exporter_endpoint=endpoint))
        (doc,) = _docs(files, "otel-collector.yaml")
        assert set(doc["receivers"]["otlp"]["protocols"]) == {"grpc", "http"}
        assert "batch" in doc["processors"]
        assert list(doc["exporters"]) == [exporter]
        for name, pipeline in doc["service"]["pipelines"].items():
            assert name in ("traces", "metrics", "logs")
            assert pipeline["receivers"] == ["otlp"] and pipeline["exporters"] == [exporter]
            assert pipeline["processors"][-1] == "batch"  # batching last, as advised
            assert set(pipeline["processors"]) <= set(doc["processors"])
        if exporter != "debug":
            assert doc["exporters"][exporter]["endpoint"] == (endpoint or "${env:OTLP_ENDPOINT}")


def test_bad_options_are_listed_together(capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    code = main(["gen", "deploy", "examples.orders.main:app", "-o", str(tmp_path),
                 "--cpu", "lots", "--memory", "1 GB", "--replicas", "0",
                 "--namespace", "Shop_1"])
    err = capsys.readouterr().err
    assert code == 2
    for part in ("--cpu 'lots'", "--memory '1 GB'", "--replicas 0", "--namespace 'Shop_1'"):
        assert part in err
    assert "Traceback" not in err and not any(tmp_path.iterdir())
    assert main(["gen", "deploy", "examples.orders.design:api"]) == 2
    assert "is a APIExpr, not a bastion.App" in capsys.readouterr().err


@pytest.mark.integration
def test_the_image_command_healthcheck_and_stop_signal_work_on_a_real_server(
        tmp_path: Path) -> None:
    # docker cannot run here: run what the image runs, as the image runs it — the CMD,
    # with the ConfigMap's environment, probed as the kubelet and HEALTHCHECK probe it,
    # stopped with the STOPSIGNAL.
    http, admin, grpc = free_port(), free_port(), free_port()
    env = {"HTTP_ADDR": f"127.0.0.1:{http}", "ADMIN_ADDR": f"127.0.0.1:{admin}",
           "GRPC_ADDR": f"127.0.0.1:{grpc}", "SHUTDOWN_DELAY": "200ms",
           "SHUTDOWN_TIMEOUT": "2s", "DATABASE_URL": f"sqlite:///{tmp_path / 'orders.db'}"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        plan = plan_for("examples.orders.main:app", DeployOptions(), root=ROOT)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    files = render(plan)
    data = _manifests(files)["configmap.yaml"]["data"]
    final = _stages(files["Dockerfile"])[1]
    (cmd,) = [c for c in final if c.cmd == "CMD"]
    (health,) = [c for c in final if c.cmd == "HEALTHCHECK"]
    (stop,) = [c for c in final if c.cmd == "STOPSIGNAL"]
    bin_dir = str(Path(console_script()).parent)
    assert (data["HTTP_ADDR"], data["ADMIN_ADDR"]) == (f":{http}", f"0.0.0.0:{admin}")
    # The pod's values, bound to loopback here: test traffic stays on 127.0.0.1.
    run_env = user_env(**{**data, **env, "PATH": f"{bin_dir}:{os.environ['PATH']}",
                          "PYTHONPATH": str(ROOT)})
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(list(cmd.value), cwd=ROOT, env=run_env, stdout=log, stderr=log)
    try:
        wait_for_port(http, timeout=30)
        wait_for_port(admin, timeout=30)
        checked = subprocess.run(list(health.value[1:]), env=run_env, timeout=30, check=False)
        assert checked.returncode == 0
        for path in ("/livez", "/readyz"):  # the Deployment's probes, on the admin port
            assert httpx.get(f"http://127.0.0.1:{admin}{path}", timeout=5).status_code == 200
        proc.send_signal(getattr(signal, stop.value[0]))
        started = time.monotonic()
        assert proc.wait(timeout=plan.grace_seconds) == 0
        assert time.monotonic() - started < plan.grace_seconds
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    down = subprocess.run(list(health.value[1:]), env=run_env, timeout=30, check=False,
                          capture_output=True)
    assert down.returncode != 0  # nothing listens: unhealthy


def test_the_command_writes_every_file_from_the_project_root(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    out = tmp_path / "deploy"
    assert main(["gen", "deploy", "examples.orders.main:app", "-o", str(out),
                 "--shutdown-delay", "2.5s", "--namespace", "shop"]) == 0
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["Dockerfile", "Dockerfile.dockerignore", "kubernetes/configmap.yaml",
                       "kubernetes/deployment.yaml", "kubernetes/hpa.yaml",
                       "kubernetes/networkpolicy.yaml", "kubernetes/pdb.yaml",
                       "kubernetes/secret.yaml.example", "kubernetes/service.yaml",
                       "otel-collector.yaml"]
    assert capsys.readouterr().out.count("wrote ") == len(written)
    assert "COPY --from=builder --chown=root:root /src/examples /app/examples" in (
        out / "Dockerfile").read_text()
    deploy = yaml.safe_load((out / "kubernetes/deployment.yaml").read_text())
    (c,) = deploy["spec"]["template"]["spec"]["containers"]
    assert c["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "2.5"]
    assert main(["gen", "deploy", "examples.orders.main:app", "-o", str(out),
                 "--shutdown-delay", "soon"]) == 2
    assert "--shutdown-delay: 'soon' is not a duration" in capsys.readouterr().err
