"""`python -m examples.records`: serve the records example over HTTP and gRPC."""

import bastion
from examples.records.main import build

bastion.run(build())
