"""`python -m examples.files`: serve the files (HTTP_ADDR, default 127.0.0.1:8080)."""

import bastion
from examples.files.main import build

bastion.run(build())
