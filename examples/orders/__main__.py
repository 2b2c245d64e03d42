"""`python -m examples.orders`: run the demo (what `make demo` does)."""

import bastion
from examples.orders.main import build

bastion.run(build())
