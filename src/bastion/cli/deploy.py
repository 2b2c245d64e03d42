"""`bastion gen deploy`: a Dockerfile, Kubernetes manifests and a collector config for an app.

Everything comes from the App — its design (name, version) and its `Config` (every
variable, its value, whether it is a `Secret` by type) — and from the options::

    bastion gen deploy examples.orders.main:app -o deploy/ --image registry/orders:1.0.0

writes `deploy/Dockerfile` (and its `.dockerignore`), `deploy/kubernetes/*.yaml` and
`deploy/otel-collector.yaml`. The shutdown timings of the manifests follow the
server's: see `grace_period`.
"""

from __future__ import annotations

import os
from pathlib import Path

from bastion.cli._container import collector_config, dockerfile, dockerignore
from bastion.cli._deploy_model import (
    DEFAULT_SHUTDOWN_DELAY,
    EXPORTERS,
    MARGIN,
    DeployError,
    DeployOptions,
    Plan,
    grace_period,
    make_plan,
)
from bastion.cli._kubernetes import manifests
from bastion.config import Config, load

__all__ = [
    "DEFAULT_SHUTDOWN_DELAY",
    "EXPORTERS",
    "MARGIN",
    "DeployError",
    "DeployOptions",
    "Plan",
    "grace_period",
    "make_plan",
    "plan_for",
    "render",
    "source_paths",
    "write",
]


def source_paths(target: str, root: Path) -> list[str]:
    """The top-level module of `target` as found under `root`: copied into the image.

    `examples.orders.main:app` gives `["examples"]` when `root/examples` is a package;
    `main:app` gives `["main.py"]`. A module installed elsewhere gives nothing: the
    project's install in the venv brings it.
    """
    top = target.partition(":")[0].split(".")[0]
    if (root / top).is_dir():
        return [top]
    if (root / f"{top}.py").is_file():
        return [f"{top}.py"]
    return []


def plan_for(target: str, options: DeployOptions, root: Path | None = None) -> Plan:
    """Import the App `target` and plan its deployment files."""
    from bastion.app import App
    from bastion.cli import load as load_target

    app = load_target(target)
    if not isinstance(app, App):
        raise DeployError(f"{target} is a {type(app).__name__}, not a bastion.App")
    config = app.config if isinstance(app.config, Config) else load(Config)
    root = Path.cwd() if root is None else root
    return make_plan(app.api, config, target, options, source_paths(target, root))


def render(plan: Plan) -> dict[str, str]:
    """Every file, by path relative to the output directory."""
    files = {
        "Dockerfile": dockerfile(plan),
        "Dockerfile.dockerignore": dockerignore(),
        "otel-collector.yaml": collector_config(plan),
    }
    files.update({f"kubernetes/{name}": text for name, text in manifests(plan).items()})
    return files


def write(files: dict[str, str], output: Path) -> list[Path]:
    """Write `files` under `output`, creating folders; return the paths written."""
    written = []
    for rel, text in files.items():
        path = output / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(target: str, output: str, options: DeployOptions) -> int:
    """Run `bastion gen deploy`: plan, render and write; print what was written."""
    plan = plan_for(target, options)
    for path in write(render(plan), Path(output)):
        print(f"wrote {os.path.relpath(path)}")
    return 0
