"""`python -m examples.chat`: serve the chat (HTTP_ADDR, default 127.0.0.1:8080)."""

import bastion
from examples.chat.main import build

bastion.run(build())
