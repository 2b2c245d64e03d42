"""`python -m examples.orders`: run the demo (what `make demo` does)."""

from examples.orders.main import build

import bastion

bastion.run(build())
