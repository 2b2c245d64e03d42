"""`python -m examples.cellar`: serve the cellar (HTTP_ADDR, default 127.0.0.1:8080)."""

import bastion
from examples.cellar.main import build

bastion.run(build())
