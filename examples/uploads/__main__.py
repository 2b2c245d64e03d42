"""`python -m examples.uploads`: serve the uploads example (HTTP_ADDR, default 127.0.0.1:8080)."""

import bastion
from examples.uploads.main import build

bastion.run(build())
