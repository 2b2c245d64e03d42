"""The build hook that compiles Bastion's optional C modules.

`bastion.log._native` is the JSON line renderer's inner loop (src/bastion/log/_native.c),
`bastion.otel._native` the sampler's root decision and the HTTP server metrics' cells
(src/bastion/otel/_native.c). They are built with the compiler and flags Python itself was
built with (sysconfig), for the wheel and for editable installs alike. Without a
compiler, or with `BASTION_NATIVE=0`, the package is built without them and does the same
work in Python, more slowly: a failed build is a warning, never a failed install (see
src/bastion/_cext.py).
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sysconfig
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

#: The C modules, by their sources; each is built beside its source, named after it.
SOURCES = (Path("src", "bastion", "log", "_native.c"), Path("src", "bastion", "otel", "_native.c"))


def compile_native(root: Path, relative: Path) -> Path:
    """Compile the module of the source at `relative` beside it; return the file built."""
    source = root / relative
    target = source.with_name(source.stem + str(sysconfig.get_config_var("EXT_SUFFIX")))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    config = sysconfig.get_config_vars()
    command = [
        *shlex.split(str(config.get("LDSHARED") or "cc -shared")),
        *shlex.split(str(config.get("CCSHARED") or "-fPIC")),
        "-O2", "-std=c99", "-Wall", "-Wextra",
        f"-I{sysconfig.get_paths()['include']}",
        # The loader uses the module only if it was built from the source beside it.
        f'-DBASTION_NATIVE_DIGEST="{digest}"',
        str(source), "-o", str(target), "-lm",
    ]
    subprocess.run(command, check=True, capture_output=True, text=True)
    return target


class NativeBuildHook(BuildHookInterface):
    """Compiles the C modules when it can; the wheel is then platform-specific."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Build the modules; mark the wheel platform-specific and ship the modules in it."""
        if os.environ.get("BASTION_NATIVE") == "0":
            return
        built = False
        for relative in SOURCES:
            try:
                target = compile_native(Path(self.root), relative)
            except (OSError, subprocess.CalledProcessError) as exc:
                detail = getattr(exc, "stderr", "") or str(exc)
                self.app.display_warning(
                    f"bastion: {relative.name} was not built; its work is done in Python "
                    f"({detail.strip()[:500]})")
                continue
            built = True
            if version != "editable":  # an editable install imports it from the source tree
                package = "/".join(relative.parts[1:-1])
                build_data["force_include"][str(target)] = f"{package}/{target.name}"
        if built:
            build_data["pure_python"] = False
            build_data["infer_tag"] = True
