"""`make bench-served`: Bastion and its peers over real sockets, side by side in one run.

Every target is a fresh server process pinned to one core (`taskset`), loaded by wrk
pinned to the other, one worker, 64 keep-alive connections. Rounds interleave the targets
so that machine noise hits them alike; each figure is the median of the rounds, and every
ratio compares figures of the same run. Scenarios (see bench/served_apps.py): `GET /hello`,
`POST /orders` behind an API key with a validated body, the same behind an ES256 JWT, and
`GET /io`, which awaits 1 ms.

    python -m bench.served [--rounds 3] [--duration 3] [--quick] [--redis]
    python -m bench.served --soak 1000000

Writes bench/results/served.md (the table) and docs/images/bench-served.png (the chart).
`--soak N` instead sends N secured, validated POSTs (API key) to one Bastion process with
its whole default stack and prints its RSS after each tenth of them, to show that memory
stays flat (bench/results/soak.md).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ("hello", "api_key", "jwt", "io")
TITLES = {
    "hello": "GET /hello",
    "api_key": "POST, API key, validated body",
    "jwt": "POST, ES256 JWT, validated body",
    "io": "GET, handler awaits 1 ms",
}
BODY = '{"amount": 12.5, "type": "retail", "customer": "ada@example.com", "note": "gift"}'


@dataclass
class Target:
    """One server process to measure: a label, how to start it, and its environment."""

    label: str
    kind: str  # uvicorn, granian or bastion
    app: str  # the bench.served_apps app name
    env: dict[str, str] = field(default_factory=dict)

    def command(self, port: int) -> list[str]:
        py = sys.executable
        if self.kind == "uvicorn":
            return [py, "-m", "uvicorn", "bench.served_apps:asgi", "--host", "127.0.0.1",
                    "--port", str(port), "--log-level", "warning", "--no-access-log"]
        if self.kind == "granian":
            return [py, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1",
                    "--port", str(port), "--log-level", "warning", "--no-ws",
                    "bench.served_apps:asgi"]
        code = (f"from bench.served_apps import app; from bastion.server import run; "
                f"run(app({self.app!r}))")
        return [py, "-c", code]


def targets(with_redis: bool) -> list[Target]:
    found = [
        Target("raw ASGI + msgspec, uvicorn", "uvicorn", "raw"),
        Target("raw ASGI + msgspec, Granian", "granian", "raw"),
        Target("raw ASGI + msgspec, bastion.run", "bastion", "raw"),
        Target("Litestar, uvicorn", "uvicorn", "litestar"),
        Target("Litestar, bastion.run", "bastion", "litestar"),
        Target("FastAPI, uvicorn", "uvicorn", "fastapi"),
        Target("FastAPI, bastion.run", "bastion", "fastapi"),
        Target("Bastion bare (observe=False)", "bastion", "bastion-bare"),
        Target("Bastion, whole default stack", "bastion", "bastion-full"),
    ]
    if with_redis:
        # A rate limit on each secured route, so that every secured request has a limit to
        # check in Redis (the lockout costs nothing while nothing fails): one script call.
        found.append(Target("Bastion, whole default stack, Redis limits", "bastion",
                            "bastion-full", {"REDIS_URL": "{redis}",
                                             "RATE_LIMITS": "api_key=1000000/second,"
                                                            "jwt=1000000/second"}))
    return found


# -- keys and wrk scripts ----------------------------------------------------------------------


def make_keys(folder: Path) -> tuple[Path, str, str]:
    """An ES256 key pair (public PEM written), a token signed with it, and an API key."""
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    private = ec.generate_private_key(ec.SECP256R1())
    public = folder / "jwt-public.pem"
    public.write_bytes(private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    now = int(time.time())
    token = jwt.encode({"sub": "bench", "iss": "bench", "iat": now, "exp": now + 86_400},
                       private, algorithm="ES256")
    return public, token, "bench-" + secrets.token_urlsafe(24)


def server_env(public: Path, key: str) -> dict[str, str]:
    """What every served target is started with: the bench's credentials, no extra limits."""
    return {"BENCH_JWT_PUBLIC_KEY": str(public), "BENCH_API_KEY": key,
            "RATE_LIMITS": "", "AUTH_FAILURES_PER_CLIENT": "", "LOG_LEVEL": "info"}


def wrk_script(folder: Path, scenario: str, token: str, key: str) -> Path | None:
    if scenario in ("hello", "io"):
        return None
    header = f'wrk.headers["X-API-Key"] = "{key}"' if scenario == "api_key" else (
        f'wrk.headers["Authorization"] = "Bearer {token}"')
    path = folder / f"{scenario}.lua"
    path.write_text(f'wrk.method = "POST"\nwrk.body = \'{BODY}\'\n'
                    f'wrk.headers["Content-Type"] = "application/json"\n{header}\n')
    return path


# -- running ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def pin(core: int | None) -> list[str]:
    return ["taskset", "-c", str(core)] if core is not None and shutil.which("taskset") else []


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process and its children (Granian's workers) have used."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a process that ended meanwhile
        if stat.parent.name == str(pid) or fields[1] == str(pid):  # fields[1]: the parent
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@contextlib.contextmanager
def started(target: Target, env: dict[str, str], cores: tuple[int | None, int | None],
            log: Path) -> Iterator[tuple[int, int]]:
    port = free_port()
    full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT), "BENCH_APP": target.app,
                "HTTP_ADDR": f"127.0.0.1:{port}", "ADMIN_ADDR": "", "LOG_FORMAT": "json"}
    if target.app == "bastion-full":
        full_env["ADMIN_ADDR"] = f"127.0.0.1:{free_port()}"
    for key, value in target.env.items():
        full_env[key] = value.format(**env)
    with log.open("ab") as out:
        proc = subprocess.Popen([*pin(cores[0]), *target.command(port)], cwd=ROOT, env=full_env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port)
        yield port, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_TOTAL = re.compile(r"(\d+) requests in")
_NON2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def wrk(port: int, path: str, script: Path | None, seconds: float, connections: int,
        core: int | None) -> tuple[float, int, int]:
    """Requests per second, requests done, and failed responses (non-2xx or socket errors)."""
    command = [*pin(core), "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s"]
    if script is not None:
        command += ["-s", str(script)]
    out = subprocess.run([*command, f"http://127.0.0.1:{port}{path}"], capture_output=True,
                         text=True, check=True).stdout
    rps = float(_RPS.search(out).group(1)) if _RPS.search(out) else 0.0  # type: ignore[union-attr]
    total = int(_TOTAL.search(out).group(1)) if _TOTAL.search(out) else 0  # type: ignore[union-attr]
    failed = int(_NON2XX.search(out).group(1)) if _NON2XX.search(out) else 0  # type: ignore[union-attr]
    errors = _ERRORS.search(out)
    if errors:
        failed += sum(int(x) for x in errors.groups()[1:])
    return rps, total, failed


PATHS = {"hello": "/hello", "api_key": "/orders", "jwt": "/orders/jwt", "io": "/io"}


@contextlib.contextmanager
def redis() -> Iterator[tuple[str, int]]:
    exe = shutil.which("redis-server")
    if exe is None:
        raise SystemExit("--redis needs redis-server: scripts/install-system-deps")
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--dir", tmp],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port)
            yield f"redis://127.0.0.1:{port}/0", port
        finally:
            proc.kill()
            proc.wait()


def redis_calls(port: int) -> int:
    """Round trips Bastion made to Redis so far.

    Its limiter sends script calls (EVALSHA) and, at startup, SCRIPT LOAD and SUBSCRIBE.
    commandstats also counts each command a script runs inside Redis, which is no round
    trip, so only those commands are summed.
    """
    import redis as redis_client

    stats = redis_client.Redis(port=port).info("commandstats")
    sent = ("cmdstat_evalsha", "cmdstat_eval", "cmdstat_script|load", "cmdstat_subscribe")
    return sum(int(stats[k]["calls"]) for k in sent if k in stats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="one round of 2 s")
    parser.add_argument("--redis", action="store_true", help="also Bastion with Redis limits")
    parser.add_argument("--only", default="", help="comma-separated label substrings")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--soak", type=int, default=0, metavar="N",
                        help="send N API-key POSTs to Bastion's whole stack; RSS as it goes")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.duration = 1, 2.0
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: scripts/install-system-deps installs it")
    cores = (0, 1) if (os.cpu_count() or 1) >= 2 else (None, None)
    if args.soak:
        soak(args.soak, args, cores)
        return
    chosen = [t for t in targets(args.redis)
              if not args.only or any(s in t.label for s in args.only.split(","))]

    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, list[float]]] = {t.label: {s: [] for s in SCENARIOS}
                                                    for t in chosen}
    rss: dict[str, list[int]] = {t.label: [] for t in chosen}
    # CPU µs the server spent per request: what a shared machine cannot distort much.
    cpu: dict[str, dict[str, list[float]]] = {t.label: {s: [] for s in SCENARIOS}
                                              for t in chosen}
    per_request_redis: dict[str, list[float]] = {}
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as tmp_name, contextlib.ExitStack() as stack:
        tmp = Path(tmp_name)
        public, token, key = make_keys(tmp)
        env = server_env(public, key)
        redis_port = 0
        if args.redis:
            env["redis"], redis_port = stack.enter_context(redis())
        scripts = {s: wrk_script(tmp, s, token, key) for s in SCENARIOS}
        log = tmp / "servers.log"
        for round_ in range(args.rounds):
            for target in chosen:
                with started(target, env, cores, log) as (port, pid):
                    wrk(port, "/hello", None, 1.0, args.connections, cores[1])  # warm-up
                    for scenario in SCENARIOS:
                        before = redis_calls(redis_port) if "Redis" in target.label else 0
                        spent = cpu_seconds(pid)
                        rps, total, failed = wrk(port, PATHS[scenario], scripts[scenario],
                                                 args.duration, args.connections, cores[1])
                        if total:
                            cpu[target.label][scenario].append(
                                (cpu_seconds(pid) - spent) * 1e6 / total)
                        if failed:
                            failures.append(f"{target.label} {scenario}: {failed} failed")
                        results[target.label][scenario].append(rps)
                        if "Redis" in target.label and total:
                            per_request_redis.setdefault(scenario, []).append(
                                (redis_calls(redis_port) - before) / total)
                    rss[target.label].append(rss_kib(pid))
                print(f"round {round_ + 1}/{args.rounds}: {target.label} done", flush=True)
    table = render(results, rss, cpu, per_request_redis, failures, args)
    # Only a whole run (every target, every round) replaces the table and the chart the
    # README shows; a partial one is written beside them.
    whole = not args.only and not args.quick
    name = "served" if whole else "served-partial"
    (args.out / f"{name}.md").write_text(table)
    (args.out / f"{name}.json").write_text(json.dumps(
        {"results": results, "rss_kib": rss, "cpu_us_per_request": cpu,
         "redis_per_request": per_request_redis}, indent=1))
    print(table)
    chart(results, ROOT / "docs" / "images" / "bench-served.png" if whole
          else args.out / "bench-served.png")


def soak(requests: int, args: argparse.Namespace, cores: tuple[int | None, int | None]) -> None:
    """Send `requests` API-key POSTs in ten slices, with Bastion's RSS after each one."""
    target = Target("Bastion, whole default stack", "bastion", "bastion-full")
    rows: list[tuple[int, float, int]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        public, token, key = make_keys(tmp)
        env = server_env(public, key)
        script = wrk_script(tmp, "api_key", token, key)
        with started(target, env, cores, tmp / "servers.log") as (port, pid):
            wrk(port, PATHS["api_key"], script, 2.0, args.connections, cores[1])  # warm-up
            rows.append((0, 0.0, rss_kib(pid)))
            done = 0
            # Ten slices, each a wrk run long enough for a tenth of the requests.
            rps, _, _ = wrk(port, PATHS["api_key"], script, 2.0, args.connections, cores[1])
            seconds = max(1.0, requests / 10 / max(rps, 1.0))
            while done < requests:
                rps, total, failed = wrk(port, PATHS["api_key"], script, seconds,
                                         args.connections, cores[1])
                if failed:
                    raise SystemExit(f"soak: {failed} failed responses")
                done += total
                rows.append((done, rps, rss_kib(pid)))
                print(f"soak: {done:,} requests, RSS {rows[-1][2] / 1024:.1f} MiB", flush=True)
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# Soak ({when})", "",
             f"Bastion with its whole default stack, `POST /orders` behind an API key, wrk -t1 "
             f"-c{args.connections}; RSS of the one worker after each slice.", "",
             "| requests so far | req/s in the slice | RSS (MiB) |", "| ---: | ---: | ---: |"]
    lines += [f"| {n:,} | {r:,.0f} | {kib / 1024:.1f} |" for n, r, kib in rows]
    growth = (rows[-1][2] - rows[1][2]) / 1024 if len(rows) > 1 else 0.0
    lines += ["", f"Growth from the first slice to the last: {growth:+.1f} MiB."]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def render(results: dict[str, dict[str, list[float]]], rss: dict[str, list[int]],
           cpu: dict[str, dict[str, list[float]]], redis_per_request: dict[str, list[float]],
           failures: list[str], args: argparse.Namespace) -> str:
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"# Served benchmark ({when})",
        "",
        f"wrk -t1 -c{args.connections}, {args.duration:g} s per run, server pinned to one core "
        f"and wrk to the other, one worker, a fresh process per target and round, "
        f"{args.rounds} interleaved round(s); median requests/s.",
        "",
        "| target | " + " | ".join(TITLES[s] for s in SCENARIOS) + " | idle RSS (MiB) |",
        "| --- | " + " | ".join("---:" for _ in SCENARIOS) + " | ---: |",
    ]
    for label, by in results.items():
        cells = [f"{median(by[s]):,.0f}" for s in SCENARIOS]
        mib = median([float(x) for x in rss[label]]) / 1024
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {mib:.0f} |")
    lines += [
        "",
        "Server CPU time per request, µs (user + system, all threads; what the machine's",
        "other load changes least):",
        "",
        "| target | " + " | ".join(TITLES[s] for s in SCENARIOS) + " |",
        "| --- | " + " | ".join("---:" for _ in SCENARIOS) + " |",
    ]
    for label, by in cpu.items():
        lines.append(f"| {label} | " + " | ".join(f"{median(by[s]):.0f}" for s in SCENARIOS)
                     + " |")
    lines += ["", "## Ratios (same run)", ""]

    def m(label: str, scenario: str) -> float:
        return median(results.get(label, {}).get(scenario, []))

    def best(prefix: str, scenario: str) -> float:
        return max((m(k, scenario) for k in results if k.startswith(prefix)), default=0.0)

    full, bare = "Bastion, whole default stack", "Bastion bare (observe=False)"
    for scenario in SCENARIOS:
        row = [f"- {TITLES[scenario]}:"]
        lit, fast = best("Litestar", scenario), best("FastAPI", scenario)
        if m(full, scenario) and lit:
            row.append(f"Bastion full / Litestar bare {m(full, scenario) / lit:.2f}x,")
        if m(full, scenario) and fast:
            row.append(f"Bastion full / FastAPI bare {m(full, scenario) / fast:.2f}x,")
        if m(bare, scenario) and lit:
            row.append(f"Bastion bare / Litestar bare {m(bare, scenario) / lit:.2f}x,")
        full_cpu = median(cpu.get(full, {}).get(scenario, []))
        bare_cpu = median(cpu.get(bare, {}).get(scenario, []))
        if full_cpu and bare_cpu:
            row.append(f"the default stack adds {full_cpu - bare_cpu:.1f} µs of CPU per request")
        lines.append(" ".join(row))
    raw_ours = "raw ASGI + msgspec, bastion.run"
    for scenario in ("hello", "api_key"):
        ours = m(raw_ours, scenario)
        uv = m("raw ASGI + msgspec, uvicorn", scenario)
        gr = m("raw ASGI + msgspec, Granian", scenario)
        if ours and uv:
            lines.append(f"- bastion.run's own layer, {TITLES[scenario]}: raw ASGI on bastion.run "
                         f"is {ours / uv:.2f}x raw ASGI on uvicorn"
                         + (f" and {ours / gr:.2f}x on Granian" if gr else ""))
    if redis_per_request:
        lines += ["", "## Redis round trips per request (INFO commandstats)", ""]
        for scenario, values in redis_per_request.items():
            lines.append(f"- {TITLES[scenario]}: {median(values):.2f} commands per request")
    if failures:
        lines += ["", "## Failed responses (a figure with failures is not comparable)", ""]
        lines += [f"- {f}" for f in failures]
    return "\n".join(lines) + "\n"


def chart(results: dict[str, dict[str, list[float]]], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter, MaxNLocator
    except ImportError:
        print("matplotlib is not installed: no chart (pip install 'bastion[bench]')")
        return
    labels = list(results)
    fig, axes = plt.subplots(1, len(SCENARIOS), figsize=(4.2 * len(SCENARIOS), 0.42 * len(labels)
                                                          + 1.6), sharey=True)
    for ax, scenario in zip(axes, SCENARIOS, strict=True):
        values = [median(results[label][scenario]) for label in labels]
        colors = ["#c0392b" if label.startswith("Bastion") else "#7f8c8d" for label in labels]
        ax.barh(range(len(labels)), values, color=colors)
        ax.set_title(TITLES[scenario], fontsize=9)
        ax.set_xlabel("requests/s")
        # Thousands as "20k", at most five ticks: wide bars' labels would run together.
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:g}k" if x else "0"))
        ax.margins(x=0.18)  # room for the value written past the longest bar
        for i, value in enumerate(values):
            ax.text(value, i, f" {value:,.0f}", va="center", fontsize=7)
    axes[0].set_yticks(range(len(labels)), labels, fontsize=8)
    axes[0].invert_yaxis()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
