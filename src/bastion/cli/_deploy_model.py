"""What `bastion gen deploy` knows about an app: its variables, ports, timings and options.

Everything the Dockerfile, the manifests and the collector config are written from is
computed here once, so the files agree with each other by construction.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, get_args

from pydantic import SecretBytes, SecretStr

from bastion.config import Config, env_name, format_duration, parse_address
from bastion.dsl.expr import APIExpr
from bastion.errors import BastionError

__all__ = [
    "DEFAULT_SHUTDOWN_DELAY",
    "EXPORTERS",
    "MARGIN",
    "DeployError",
    "DeployOptions",
    "Plan",
    "Variable",
    "grace_period",
    "make_plan",
]

#: Seconds added to the worst case of a shutdown before Kubernetes may kill the pod.
MARGIN = 5.0
#: The delay used in Kubernetes when the config says none: endpoints take seconds to update.
DEFAULT_SHUTDOWN_DELAY = 5.0
#: The collector exporters `--exporter` offers.
EXPORTERS = ("otlphttp", "otlp", "debug")
# The lifespan shutdown is bounded by SHUTDOWN_TIMEOUT but given at least this long.
_LIFESPAN_FLOOR = 5.0
_QUANTITY = re.compile(r"^([0-9]+(\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


class DeployError(BastionError, ValueError):
    """An option or the app cannot make a valid deployment; the message says which."""


@dataclass(frozen=True)
class DeployOptions:
    """The choices of `bastion gen deploy` (its command-line options)."""

    name: str | None = None  # Kubernetes name; default: the API's name
    image: str | None = None  # default: name:version
    replicas: int = 2
    max_replicas: int | None = None  # default: 3 x replicas
    namespace: str | None = None
    cpu: str = "250m"
    memory: str = "256Mi"
    cpu_limit: str | None = None  # a CPU limit throttles; none unless asked
    memory_limit: str | None = None  # default: the memory request
    shutdown_delay: float | None = None  # default: SHUTDOWN_DELAY, or 5s when it is 0
    service_monitor: bool = False
    monitoring_namespace: str = "monitoring"
    exporter: str = "otlphttp"
    exporter_endpoint: str | None = None
    python: str = "3.11"


@dataclass(frozen=True)
class Variable:
    """One configuration variable: its name, its value as the environment writes it."""

    name: str
    value: str | None  # None: unset (the app's default applies)
    secret: bool  # read from the Secret, never written to a file
    required: bool
    description: str


@dataclass
class Plan:
    """Everything the generated files are written from."""

    api: APIExpr
    target: str
    options: DeployOptions
    name: str
    image: str
    http_port: int
    grpc_port: int
    admin_port: int | None
    shutdown_delay: float
    shutdown_timeout: float
    grace_seconds: int
    variables: list[Variable] = field(default_factory=list)
    source: list[str] = field(default_factory=list)  # top-level modules copied into the image

    @property
    def labels(self) -> dict[str, str]:
        """The labels every object carries; the first two select the pods."""
        return {"app.kubernetes.io/name": self.name, "app.kubernetes.io/instance": self.name}

    @property
    def max_replicas(self) -> int:
        """The autoscaler's ceiling."""
        return self.options.max_replicas or 3 * self.options.replicas

    @property
    def config_name(self) -> str:
        """The ConfigMap's name."""
        return f"{self.name}-config"

    @property
    def secret_name(self) -> str:
        """The Secret's name."""
        return f"{self.name}-secrets"


def grace_period(prestop: float, delay: float, timeout: float, margin: float = MARGIN) -> int:
    """`terminationGracePeriodSeconds`: whole seconds strictly above the worst shutdown.

    Kubernetes counts the grace period from the moment it runs the `preStop` hook, before
    the SIGTERM; then the server waits SHUTDOWN_DELAY, drains for SHUTDOWN_TIMEOUT, and
    runs the lifespan shutdown, bounded by SHUTDOWN_TIMEOUT but given at least 5 s.
    """
    worst = prestop + delay + timeout + max(timeout, _LIFESPAN_FLOOR) + margin
    return math.floor(worst) + 1


def _holds_secret(annotation: Any) -> bool:
    # By type, as `bastion config` masks: `Secret`, `Secret | None`, `list[Secret]`...
    if isinstance(annotation, type) and issubclass(annotation, SecretStr | SecretBytes):
        return True
    return any(_holds_secret(arg) for arg in get_args(annotation))


def _has_password(text: str) -> bool:
    # A DSN such as redis://:pw@host carries a credential: never into a ConfigMap.
    return bool(re.match(r"^[a-z][a-z0-9+.-]*://[^/@]*:[^/@]+@", text, re.IGNORECASE))


def _env_value(value: Any) -> str | None:
    # `model_dump(mode="json")` already wrote durations and sizes as Go does ("30s", "1MiB").
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value)


def _port(text: str, what: str) -> int:
    try:
        return parse_address(text)[1]
    except ValueError as exc:
        raise DeployError(f"{what}: {exc}") from None


def _check_quantity(value: str | None, what: str) -> None:
    if value is not None and not _QUANTITY.match(value):
        raise DeployError(f"{what} {value!r} is not a Kubernetes quantity such as 250m, 1, "
                          "256Mi or 1Gi")


def _k8s_name(text: str) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:63].strip("-")
    if not _DNS_LABEL.match(name):
        raise DeployError(f"{text!r} makes no Kubernetes name (lowercase letters, digits and "
                          "'-', starting with a letter); pass --name")
    return name


def make_plan(api: APIExpr, config: Config, target: str, options: DeployOptions,
              source: list[str] | None = None) -> Plan:
    """Compute the plan of the files for the app `target` with `config` and `options`.

    Raises `DeployError` listing every bad option at once.
    """
    problems = []
    for value, what in ((options.cpu, "--cpu"), (options.memory, "--memory"),
                        (options.cpu_limit, "--cpu-limit"),
                        (options.memory_limit, "--memory-limit")):
        try:
            _check_quantity(value, what)
        except DeployError as exc:
            problems.append(str(exc))
    if options.replicas < 1:
        problems.append(f"--replicas {options.replicas}: at least 1")
    max_replicas = options.max_replicas or 3 * options.replicas
    if max_replicas < options.replicas:
        problems.append(f"--max-replicas {max_replicas} is below --replicas {options.replicas}")
    if options.exporter not in EXPORTERS:
        problems.append(f"--exporter {options.exporter!r}: one of {', '.join(EXPORTERS)}")
    if options.shutdown_delay is not None and options.shutdown_delay < 0:
        problems.append("--shutdown-delay: not negative")
    for ns, what in ((options.namespace, "--namespace"),
                     (options.monitoring_namespace, "--monitoring-namespace")):
        if ns is not None and not _DNS_LABEL.match(ns):
            problems.append(f"{what} {ns!r} is not a Kubernetes name")
    try:
        name = _k8s_name(options.name or api.name)
    except DeployError as exc:
        problems.append(str(exc))
        name = "app"
    if problems:
        raise DeployError("cannot generate the deployment:\n"
                          + "\n".join(f"  - {p}" for p in problems))

    delay = options.shutdown_delay
    if delay is None:
        delay = config.shutdown_delay or DEFAULT_SHUTDOWN_DELAY
    timeout = config.shutdown_timeout
    http_port = _port(config.http_addr, "HTTP_ADDR")
    grpc_port = _port(config.grpc_addr, "GRPC_ADDR")
    admin_port = _port(config.admin_addr, "ADMIN_ADDR") if config.admin_addr else None
    # Inside a pod every listener binds every interface: probes come from the kubelet
    # and scrapes from Prometheus, both from outside the container's loopback.
    overrides: dict[str, str | None] = {
        "HTTP_ADDR": f":{http_port}",
        "GRPC_ADDR": f":{grpc_port}",
        "ADMIN_ADDR": f"0.0.0.0:{admin_port}" if admin_port is not None else "",
        "SHUTDOWN_DELAY": format_duration(delay),
    }
    dumped = config.model_dump(mode="json")
    cls = type(config)
    variables = []
    for fname, info in cls.model_fields.items():
        var = env_name(cls, fname, info)
        secret = _holds_secret(info.annotation)
        value = overrides[var] if var in overrides else _env_value(dumped.get(fname))
        if value is not None and not secret and _has_password(value):
            secret = True  # a password in a URL goes to the Secret with the rest
        variables.append(Variable(var, None if secret else value, secret, info.is_required(),
                                  info.description or ""))
    return Plan(
        api=api, target=target, options=options, name=name,
        image=options.image or f"{name}:{api.version}",
        http_port=http_port, grpc_port=grpc_port, admin_port=admin_port,
        shutdown_delay=delay, shutdown_timeout=timeout,
        grace_seconds=grace_period(delay, delay, timeout),
        variables=variables, source=list(source or []),
    )
