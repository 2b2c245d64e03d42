"""The build hook that compiles Bastion's optional C module, `bastion.log._native`.

The module is the JSON line renderer's inner loop (see src/bastion/log/_native.c). It is
built with the compiler and flags Python itself was built with (sysconfig), for the
wheel and for editable installs alike. Without a compiler, or with `BASTION_NATIVE=0`, the
package is built without it and renders the same lines in Python, more slowly: a
failed build is a warning, never a failed install.
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

SOURCE = Path("src", "bastion", "log", "_native.c")


def compile_native(root: Path) -> Path:
    """Compile the module beside its source; return the file built."""
    source = root / SOURCE
    target = source.with_name("_native" + str(sysconfig.get_config_var("EXT_SUFFIX")))
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
    """Compiles `bastion.log._native` when it can; the wheel is then platform-specific."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Build the module; mark the wheel platform-specific and ship the module in it."""
        if os.environ.get("BASTION_NATIVE") == "0":
            return
        try:
            target = compile_native(Path(self.root))
        except (OSError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            self.app.display_warning(
                f"bastion: the C line renderer was not built; lines are rendered in Python "
                f"({detail.strip()[:500]})")
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        if version != "editable":  # an editable install imports it from the source tree
            build_data["force_include"][str(target)] = f"bastion/log/{target.name}"
