"""`python -m examples.session`: serve the session service (HTTP_ADDR, default 127.0.0.1:8080)."""

import bastion
from examples.session.main import build

bastion.run(build())
