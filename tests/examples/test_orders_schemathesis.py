"""Schemathesis against the orders example: what the server answers is what it documents.

The test starts `python -m examples.orders` on loopback and runs schemathesis's CLI on
the document the server serves, with every check it has: no 5xx, no status, header,
content type or body outside the document, invalid input refused, valid input accepted.
Examples are limited so the run stays well under a minute.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from examples.orders.main import DEMO_API_KEY
from examples.orders.mint import mint

from tests.support.orders import demo
from tests.support.paths import ROOT

pytestmark = pytest.mark.integration

#: Examples per operation and phase; the seed makes a failure reproducible.
EXAMPLES = "25"
SEED = "20261201"


# Credentials per security scheme of the document, so that schemathesis knows which
# credential each operation needs (and which alternatives it accepts).
CONFIG = """
[auth.openapi.api_key]
api_key = "${ORDERS_API_KEY}"

[auth.openapi.jwt]
bearer = "${ORDERS_TOKEN}"
"""


def test_schemathesis_finds_nothing_the_document_does_not_say(tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    secrets = {"ORDERS_API_KEY": DEMO_API_KEY,
               "ORDERS_TOKEN": mint(["orders:read", "orders:write"])}
    with demo(tmp_path) as d:
        cli = Path(sys.executable).with_name("schemathesis")
        run = subprocess.run(
            [str(cli), "--config-file", str(config), "run", f"{d.api}/openapi.json",
             "--checks", "all",
             "--max-examples", EXAMPLES,
             "--seed", SEED,
             "--workers", "1",
             "--request-timeout", "10",
             "--generation-database", "none",
             "--no-color"],
            cwd=tmp_path, capture_output=True, text=True, timeout=240, check=False,
            env={**os.environ, **secrets, "NO_COLOR": "1", "PYTHONPATH": str(ROOT),
                 "SCHEMATHESIS_HOOKS": "tests.support.schemathesis_hooks"},
        )
        server_log = d.output()
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-6000:]
    assert "Tested: 5" in report, report[-3000:]
    assert "Traceback" not in server_log
