"""scripts/install-system-deps: installs exactly what is missing, quietly, sudo only if needed.

The script runs for real, with bash; apt-get and sudo are stand-ins on PATH (a test may
not install packages on the machine), and the folder the tools are looked for in starts
empty or full as a fresh or a ready machine would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import ROOT

SCRIPT = ROOT / "scripts" / "install-system-deps"
TOOLS = {
    "redis-server": "redis-server", "prometheus": "prometheus", "promtool": "prometheus",
    "chromium": "chromium", "chromedriver": "chromium-driver", "wrk": "wrk",
    "haproxy": "haproxy",
}

# A stand-in apt-get: records each call, and `install` puts the packages' tools where
# the script looks for them, as dpkg would.
FAKE_APT = """#!/usr/bin/env bash
echo "DEBIAN_FRONTEND=$DEBIAN_FRONTEND $*" >> "$CALLS"
[ -n "${APT_FAILS:-}" ] && { echo "E: Unable to locate package $APT_FAILS"; exit 100; }
if [[ " $* " == *" install "* ]]; then
  for pkg in "$@"; do
    while read -r tool package; do
      if [ "$package" = "$pkg" ]; then
        printf '#!/bin/sh\\n' > "$TOOLDIR/$tool" && chmod +x "$TOOLDIR/$tool"
      fi
    done < "$TOOLMAP"
  done
fi
exit 0
"""
FAKE_SUDO = """#!/usr/bin/env bash
echo "sudo $*" >> "$CALLS"
exec "$@"
"""


class Machine:
    """A PATH of basic tools only, a tool folder, and stand-ins for apt-get and sudo."""

    def __init__(self, tmp: Path, *, uid: int = 0, apt: bool = True, sudo: bool = True) -> None:
        self.bin, self.tools, self.calls = tmp / "bin", tmp / "tools", tmp / "calls"
        self.bin.mkdir(parents=True)
        self.tools.mkdir()
        self.calls.touch()
        for name in ("bash", "env", "mktemp", "rm", "cat", "chmod"):
            exe = shutil.which(name)
            assert exe is not None
            (self.bin / name).symlink_to(exe)
        self._script("id", f"#!/usr/bin/env bash\necho {uid}\n")
        if apt:
            self._script("apt-get", FAKE_APT)
        if sudo:
            self._script("sudo", FAKE_SUDO)
        (tmp / "toolmap").write_text("".join(f"{t} {p}\n" for t, p in TOOLS.items()))
        self.env = {"PATH": str(self.bin), "CALLS": str(self.calls), "TOOLDIR": str(self.tools),
                    "TOOLMAP": str(tmp / "toolmap"), "BASTION_SYSTEM_DEPS_PATH": str(self.tools)}

    def _script(self, name: str, text: str) -> None:
        (self.bin / name).write_text(text)
        (self.bin / name).chmod(0o755)

    def have(self, *tools: str) -> None:
        for tool in tools:
            (self.tools / tool).write_text("#!/bin/sh\n")
            (self.tools / tool).chmod(0o755)

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(SCRIPT), *args], env={**self.env, **env}, check=False,
                              capture_output=True, text=True, timeout=30)

    def apt_calls(self) -> list[str]:
        return self.calls.read_text().splitlines()


def test_a_ready_machine_is_left_alone_silently(tmp_path: Path) -> None:
    machine = Machine(tmp_path)
    machine.have(*TOOLS)
    run = machine.run()
    assert (run.returncode, run.stdout, run.stderr) == (0, "", "")
    assert machine.apt_calls() == []


def test_a_fresh_machine_gets_every_package_once(tmp_path: Path) -> None:
    machine = Machine(tmp_path)
    run = machine.run()
    assert run.returncode == 0, run.stderr
    packages = "redis-server prometheus chromium chromium-driver wrk haproxy"
    assert run.stdout == f"installing {packages} (for the integration tests)\n"
    assert machine.apt_calls() == [
        "DEBIAN_FRONTEND=noninteractive -qq -o=Dpkg::Use-Pty=0 update",
        f"DEBIAN_FRONTEND=noninteractive -qq -o=Dpkg::Use-Pty=0 install -y "
        f"--no-install-recommends {packages}",
    ]
    assert sorted(os.listdir(machine.tools)) == sorted(TOOLS)
    again = machine.run()  # idempotent: the second run finds everything
    assert (again.returncode, again.stdout) == (0, "")
    assert len(machine.apt_calls()) == 2


def test_only_the_missing_packages_are_installed(tmp_path: Path) -> None:
    machine = Machine(tmp_path)
    machine.have("redis-server", "prometheus", "chromium", "chromedriver", "wrk")
    run = machine.run()
    assert run.returncode == 0, run.stderr
    # promtool alone is missing: its package is prometheus.
    assert machine.apt_calls()[-1].endswith("install -y --no-install-recommends prometheus haproxy")


def test_sudo_is_used_only_when_not_root(tmp_path: Path) -> None:
    as_root = Machine(tmp_path / "root")
    as_root.run()
    assert not any(call.startswith("sudo") for call in as_root.apt_calls())
    user = Machine(tmp_path / "user", uid=1000)
    run = user.run()
    assert run.returncode == 0, run.stderr
    sudo_calls = [c for c in user.apt_calls() if c.startswith("sudo")]
    assert [c.split()[1:4] for c in sudo_calls] == [
        ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]] * 2


@pytest.mark.parametrize("case", ["no-apt", "no-sudo", "apt-fails"])
def test_what_cannot_be_installed_is_named(tmp_path: Path, case: str) -> None:
    machine = Machine(tmp_path, uid=0 if case != "no-sudo" else 1000,
                      apt=case != "no-apt", sudo=case != "no-sudo")
    machine.have("redis-server", "prometheus", "promtool", "chromium", "chromedriver", "wrk")
    run = machine.run(**({"APT_FAILS": "haproxy"} if case == "apt-fails" else {}))
    assert run.returncode == 1
    assert "haproxy" in run.stderr
    if case == "apt-fails":
        assert "E: Unable to locate package haproxy" in run.stderr  # apt's own words


def test_check_lists_what_is_missing(tmp_path: Path) -> None:
    machine = Machine(tmp_path)
    machine.have("redis-server", "chromium", "chromedriver", "wrk", "haproxy")
    run = machine.run("--check")
    assert run.returncode == 1
    assert run.stdout == "missing: prometheus promtool (Debian packages: prometheus)\n"
    assert machine.apt_calls() == []
