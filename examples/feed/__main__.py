"""`python -m examples.feed`: serve the feed (HTTP_ADDR, default 127.0.0.1:8080)."""

import bastion
from examples.feed.main import build

bastion.run(build())
