"""The embedded server: hard timeouts and limits, TLS, workers, signals and a graceful drain.

`run(app)` reads the configuration from the environment and serves until SIGTERM or
SIGINT. The server is Bastion's own HTTP/1.1 implementation on httptools' parser (see
docs/server.md for why and for what it guarantees); it serves a Bastion `App` through
the `ServedApp` contract and any other ASGI app with defaults.
"""

from bastion.server._lifespan import LifespanError
from bastion.server._listener import Limits, Listener
from bastion.server._options import ServerOptions
from bastion.server._run import run, serve
from bastion.server._server import ListenError, Server, bind_socket

__all__ = [
    "LifespanError",
    "Limits",
    "ListenError",
    "Listener",
    "Server",
    "ServerOptions",
    "bind_socket",
    "run",
    "serve",
]
