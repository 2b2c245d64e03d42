"""The DSL's servers: `Server`, `Services`, `Host`, `URI` and `Variable`, as Goa has them.

    with API("calc"):
        with Server("calc"):
            Description("The calculator.")
            Services("calc")
            with Host("dev", URI("http://localhost:{port}")):
                Variable("port", String, default="8000")

They are kept in the design and written as the OpenAPI document's `servers`, with
their variables. `Server("https://api.example.com")` (a URL) adds one plain server.
"""

from __future__ import annotations

from typing import Any as _Any

from bastion.dsl._state import _Block, _fail, _need, _top
from bastion.dsl.expr import (
    APIExpr,
    AttributeExpr,
    DataType,
    HostExpr,
    Location,
    ServerExpr,
    TypeRef,
)


class HostURI(str):
    """A host's URL, as `URI("http://localhost:{port}")` returns it."""

    __slots__ = ()


class URIFormat(str):
    """The `uri` format constant, callable as Goa's `URI(...)` to give a host's URL.

    `format=URI` checks a string as a URI; `URI("https://{region}.example.com")` inside
    a `Host` block (or as an argument of `Host`) adds that URL to the host.
    """

    __slots__ = ()

    def __call__(self, url: str) -> HostURI:
        """Return `url` as a host URL; inside a `with Host(...)` block, add it to the host."""
        where = Location.here()
        if not isinstance(url, str) or not url:
            raise _fail(where, f"URI needs a URL, not {url!r}")
        top = _top()
        if isinstance(top, HostExpr):
            top.uris.append(str(url))
        elif not isinstance(top, ServerExpr):
            raise _fail(where, "URI(url) must be called inside a Host block or as an argument "
                        "of Host")
        return HostURI(url)


def Server(name: str, description: str | None = None) -> _Block[ServerExpr | None]:
    """Declare a server of the API: `with Server("calc"):`, or a plain URL.

    `Server("https://api.example.com", "production")` adds a server URL; a name opens a
    block holding `Description`, `Services` and `Host`s.
    """
    where = Location.here()
    api = _need((APIExpr,), "Server", where, "API")
    if "://" in name or name.startswith("/"):
        api.servers.append((name, description))
        return _Block(None)
    for other in api.server_defs:
        if other.name == name:
            raise _fail(where, f"server {name!r} is declared twice (first at {other.location})")
    server = ServerExpr(name=name, location=where, description=description)
    api.server_defs.append(server)
    return _Block(server)


def Services(*names: str) -> None:
    """List the services the enclosing server hosts (every service when never called)."""
    where = Location.here()
    server = _need((ServerExpr,), "Services", where, "Server")
    server.services.extend(names)
    server.services_at = server.services_at or where


def Host(name: str, *uris: str, description: str | None = None) -> _Block[HostExpr]:
    """Declare a host of the enclosing server, with its URLs: `Host("dev", URI("http://..."))`."""
    where = Location.here()
    server = _need((ServerExpr,), "Host", where, "Server")
    for other in server.hosts:
        if other.name == name:
            raise _fail(where, f"host {name!r} of server {server.name!r} is declared twice "
                        f"(first at {other.location})")
    host = HostExpr(name=name, location=where, description=description,
                    uris=[str(u) for u in uris])
    server.hosts.append(host)
    return _Block(host)


def Variable(
    name: str,
    type: DataType | str | None = None,
    description: str | None = None,
    **validations: _Any,
) -> None:
    """Declare a `{name}` variable of the enclosing host's URLs; it needs a default or enum."""
    where = Location.here()
    host = _need((HostExpr,), "Variable", where, "Host")
    if name in host.variables:
        raise _fail(where, f"variable {name!r} of host {host.name!r} is declared twice")
    from bastion.dsl._build import _attribute

    attr: AttributeExpr = _attribute(name, type, description, where, validations)
    if isinstance(attr.type, TypeRef):
        raise _fail(where, f"variable {name!r}: use a primitive type, not {attr.type.name!r}")
    host.variables[name] = attr
