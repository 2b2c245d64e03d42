"""`bastion gen mocks`: a scripted mock per service of a design, and one of its HTTP API.

For each service the module holds two classes that satisfy the service's Protocol (the
one `bastion gen stubs` writes): `<Service>ServiceMock`, whose methods are async, and
`<Service>ServiceSyncMock`, whose methods are plain. Each method `m` comes with
`add_m(fn)` (expect one call, in sequence) and `set_m(fn)` (answer every later call),
typed with the method's payload and result, over `bastion.testing.mock.Mock`. For code
that calls the API over HTTP, `<Api>HTTPMock` scripts its routes by method name on
`bastion.testing.mock.HTTPMock`, whose clients are Bastion's traced ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bastion.cli.stubs import (
    IMPORTS,
    Renderer,
    camel,
    handler_params,
    protocol_name,
    render_body,
)
from bastion.dsl.expr import APIExpr, MethodExpr, ServiceExpr
from bastion.errors import BastionError
from bastion.schema.compile import py_name
from bastion.security.design import scheme_kinds
from bastion.security.handlers import HANDLER_NAMES

__all__ = ["MockNameClash", "render"]

# Names every generated service mock defines besides the service's own members.
_OWN = {"mock", "has_more", "assert_done"}


class MockNameClash(BastionError, ValueError):
    """A member of a service has the name of one of its mock's helpers."""


@dataclass(frozen=True)
class _Member:
    """One member of a service Protocol: a method or an auth handler."""

    name: str  # the Python name, also the key in the Mock
    params: list[tuple[str, str]]  # (parameter, annotation), positional-only
    result: str
    doc: str


def _members(r: Renderer, svc: ServiceExpr) -> list[_Member]:
    out = []
    for m in svc.methods.values():
        param, result = r.signature(m)
        params = [("p", param)] if param is not None else []
        out.append(_Member(py_name(m.name), params, result, f"method {m.name!r}"))
    kinds = scheme_kinds(svc.api, svc.name)
    for kind in HANDLER_NAMES:
        if kind in kinds:
            args, scheme = handler_params(kind)
            typed = [(a.partition(": ")[0], a.partition(": ")[2]) for a in args.split(", ")]
            typed.append(("scheme", f"bastion.{scheme}"))
            out.append(_Member(HANDLER_NAMES[kind], typed, "bastion.Principal",
                               f"auth handler {HANDLER_NAMES[kind]!r}"))
    return out


def _check_names(svc: ServiceExpr, members: list[_Member]) -> None:
    names = {m.name for m in members}
    helpers = _OWN | {f"{verb}_{n}" for n in names for verb in ("add", "set")}
    for member in members:
        if member.name in helpers:
            where = ""
            method = svc.methods.get(member.name)
            if method is not None:
                where = f" ({method.location})"
            raise MockNameClash(
                f"service {svc.name!r}: member {member.name!r}{where} has the name of a "
                f"helper of its mock; rename it to generate mocks"
            )


def _service_mocks(svc: ServiceExpr, members: list[_Member]) -> str:
    proto = protocol_name(svc.name)
    blocks = []
    for sync in (False, True):
        cls = proto + ("SyncMock" if sync else "Mock")
        style = "plain" if sync else "async"
        lines = [
            f"class {cls}:",
            f'    """A scripted `{proto}` with {style} methods: `add_*` expects one call, '
            '`set_*` answers every later one."""',
            "",
            "    def __init__(self) -> None:",
            f"        self.mock = Mock({svc.name!r})",
        ]
        for m in members:
            args = ", ".join(t for _, t in m.params)
            answer = m.result if sync else f"MaybeAwaitable[{m.result}]"
            fn = f"Callable[[{args}], {answer}]"
            for verb, what in (("add", "Expect one call of {}, next in sequence: `fn` answers."),
                               ("set", "Answer every call of {} not in sequence with `fn`.")):
                lines += [
                    "",
                    f"    def {verb}_{m.name}(self, fn: {fn}) -> None:",
                    f'        """{what.format(m.doc)}"""',
                    f"        self.mock.{verb}({m.name!r}, fn)",
                ]
            sig = "".join(f", {n}: {t}" for n, t in m.params) + (", /" if m.params else "")
            call = ", ".join(n for n, _ in m.params)
            define = "def" if sync else "async def"
            lines += ["", f"    {define} {m.name}(self{sig}) -> {m.result}:",
                      f'        """Run the scripted answer of {m.doc}."""',
                      f"        fn: {fn} = self.mock.next({m.name!r})"]
            lines.append(f"        return fn({call})" if sync
                         else f"        return await resolve(fn({call}))")
        lines += [
            "",
            "    def has_more(self) -> bool:",
            '        """Whether expected calls remain."""',
            "        return self.mock.has_more()",
            "",
            "    def assert_done(self) -> None:",
            '        """Fail naming every expected call that did not happen or was unexpected."""',
            "        self.mock.assert_done()",
        ]
        blocks.append("\n".join(lines))
    checks = (f"# Both mocks satisfy the Protocol: mypy checks these two lines.\n"
              f"_{py_name(svc.name)}_async: type[{proto}] = {proto}Mock\n"
              f"_{py_name(svc.name)}_sync: type[{proto}] = {proto}SyncMock")
    return "\n\n\n".join([*blocks, checks])


def _http_mock(api: APIExpr) -> str:
    cls = camel(api.name) + "HTTPMock"
    lines = [
        f"class {cls}(HTTPMock):",
        f'    """The HTTP API of {api.name!r}, scripted by method: '
        '`client()` and `sync_client()` call it."""',
        "",
        "    def __init__(self, *, base_url: str = \"http://mock.invalid\") -> None:",
        f"        super().__init__({api.name!r}, base_url=base_url)",
    ]
    for m in api.methods():
        if m.http is None or not m.http.routes:
            continue
        route = m.http.routes[0]
        name = f"{py_name(m.service.name)}_{py_name(m.name)}"
        for verb, what in (("add", "Expect one request of"),
                           ("set", "Answer every request not in sequence of")):
            lines += [
                "",
                f"    def {verb}_{name}(self, response: Responder) -> None:",
                f'        """{what} {_qualified(m)}: `{route.verb} {route.full_path}`."""',
                f"        self.{verb}({route.verb!r}, {route.full_path!r}, response)",
            ]
    return "\n".join(lines)


def _qualified(m: MethodExpr) -> str:
    return f"{m.service.name}.{m.name}"


def render(api: APIExpr, *, stubs_module: str | None = None) -> str:
    """Return Python source with the mocks of every service of `api` and of its HTTP API.

    With `stubs_module`, the payload and result types and the Protocols are imported from
    that module (one written by `bastion gen stubs`); without, they are written inline.
    """
    r = Renderer(api)
    body = render_body(r)  # the stubs: every Struct and Protocol, in the order they read
    stub_names = {*r.names, *(protocol_name(s) for s in r.api.services), "MaybeAwaitable"}
    services = []
    for svc in r.api.services.values():
        members = _members(r, svc)
        _check_names(svc, members)
        services.append(_service_mocks(svc, members))
    mocks = "\n\n\n".join([*services, _http_mock(r.api)])
    mocks = (
        "# Failures name the line of the test that scripted a call, not a line of this module.\n"
        "__bastion_mock__ = True\n\n\n" + mocks
    )
    doc = f'"""Mocks of design {api.name!r}, generated by `bastion gen mocks`."""\n\n'
    mocks_import = "from bastion.testing.mock import HTTPMock, Mock, Responder, resolve\n"
    if stubs_module is None:
        head = re.sub(r"^from collections\.abc import ([^\n]*)$", _with_callable, IMPORTS,
                      count=1, flags=re.M)
        head = head.replace("import bastion\n", "import bastion\n" + mocks_import)
        return doc + head + "\n\n" + body + "\n\n" + mocks + "\n"
    # The stubs' own classes, so the mocks satisfy those very Protocols.
    used = sorted(stub_names & set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", mocks)))
    imported = "".join(f"    {n},\n" for n in used)
    typing_names = [n for n in ("Any", "Literal") if re.search(rf"\b{n}\b", mocks)]
    head = (
        "from __future__ import annotations\n\n"
        + ("import builtins\n" if "builtins." in mocks else "")
        + "from collections.abc import Callable"
        + (", Mapping\n" if "Mapping[" in mocks else "\n")
        + (f"from typing import {', '.join(typing_names)}\n" if typing_names else "")
        + "\nimport bastion\n" + mocks_import
        + f"from {stubs_module} import (\n{imported})\n"
    )
    return doc + head + "\n\n" + mocks + "\n"


def _with_callable(found: re.Match[str]) -> str:
    """The stubs' `collections.abc` import with `Callable` among its names."""
    names = {n.strip() for n in found.group(1).split(",")} | {"Callable"}
    return "from collections.abc import " + ", ".join(sorted(names))

