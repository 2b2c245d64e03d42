"""The embedded server: hard timeouts and limits, TLS, workers, signals and a graceful drain.

`run(app)` reads the configuration from the environment and serves until SIGTERM or
SIGINT. The default adapter is uvicorn's httptools protocol extended with a header-read
timeout and a header size limit, so every guarantee in docs/server.md holds; Granian is
selectable with SERVER=granian. The ASGI middlewares here give both adapters the body
limit, the body read timeout, the write timeout, the concurrency limit and HSTS.
"""

from bastion.server._lifespan import LifespanError
from bastion.server._options import ServerOptions
from bastion.server._run import run, serve
from bastion.server._server import Server, guard
from bastion.server.body_limit import BodyLimit
from bastion.server.concurrency import ConcurrencyLimit
from bastion.server.hsts import HSTS
from bastion.server.inflight import InFlight
from bastion.server.read_timeout import ReadTimeout
from bastion.server.write_timeout import WriteTimeout

__all__ = [
    "HSTS",
    "BodyLimit",
    "ConcurrencyLimit",
    "InFlight",
    "LifespanError",
    "ReadTimeout",
    "Server",
    "ServerOptions",
    "WriteTimeout",
    "guard",
    "run",
    "serve",
]
