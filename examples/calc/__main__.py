"""`python -m examples.calc`: serve the calculator (HTTP_ADDR, default 127.0.0.1:8080)."""

import bastion
from examples.calc.main import build

bastion.run(build())
