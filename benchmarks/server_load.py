"""Load on `emolens serve`, loopback only: concurrent HTTP clients, then WebSocket streams.

    python benchmarks/server_load.py                   # 64 HTTP clients for 60 s, then 16 streams
    python benchmarks/server_load.py --seconds 10      # shorter
    python benchmarks/server_load.py --url http://127.0.0.1:8000 --key emk_...   # a running one

Without --url it starts `emolens serve --no-auth --rate-limit 0` on a free loopback port with a
fresh database and stops it at the end. Each client sends one text (English or Chinese, from
the bundled sample posts) per request or message and waits for the answer before the next.
Prints requests/s, p50/p99 latency and errors per phase; exits 1 if any request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import h11
import httpx
import numpy as np
import websockets

from emolens.demo import SAMPLE_POSTS
from emolens.server.settings import is_loopback


@dataclass
class Phase:
    """Latencies (seconds) and errors of one phase."""

    name: str
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""

    def failed(self, what: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or what

    def row(self) -> dict:
        lat = np.asarray(self.latencies) * 1000
        return {
            "phase": self.name, "requests": len(self.latencies),
            "requests_per_s": round(len(self.latencies) / self.seconds, 1) if self.seconds else 0,
            "p50_ms": round(float(np.percentile(lat, 50)), 1) if len(lat) else None,
            "p99_ms": round(float(np.percentile(lat, 99)), 1) if len(lat) else None,
            "errors": self.errors,
        }


def sample_texts() -> list[str]:
    with SAMPLE_POSTS.open(encoding="utf-8") as f:
        return [row["text"] for row in csv.DictReader(f)]


class Http11:
    """A small keep-alive HTTP/1.1 client on h11 (uvicorn's own parser). httpx spends more
    CPU per request than the server does, which on 2 cores would measure httpx instead."""

    def __init__(self, host: str, port: int, headers: dict) -> None:
        self.host, self.port = host, port
        self.headers = [(k, v) for k, v in headers.items()]
        self._conn: h11.Connection | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post_json(self, target: str, payload: dict) -> tuple[int, bytes]:
        if self._conn is None or self._conn.our_state is not h11.IDLE:
            await self.close()
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            self._conn = h11.Connection(h11.CLIENT)
        body = json.dumps(payload).encode()
        conn = self._conn
        head = [("Host", f"{self.host}:{self.port}"), ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))), *self.headers]
        self._writer.write(conn.send(h11.Request(method="POST", target=target, headers=head))
                           + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
        await self._writer.drain()
        status, chunks = 0, []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await self._reader.read(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("the server closed the connection")
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
        return status, b"".join(chunks)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._conn = self._reader = self._writer = None


async def http_client(i: int, url: str, headers: dict, texts: list[str], until: float,
                      phase: Phase) -> None:
    parts = urlsplit(url)
    client = Http11(parts.hostname, parts.port or 80, headers)
    n = i
    try:
        while time.perf_counter() < until:
            text = texts[n % len(texts)]
            n += 1
            began = time.perf_counter()
            try:
                status, body = await client.post_json("/v1/analyze/text", {"text": text})
                if status != 200:
                    phase.failed(f"HTTP {status}: {body[:200]!r}")
                    continue
                json.loads(body)["results"][0]["label"]  # a full, parseable answer
            except (OSError, h11.ProtocolError, KeyError, ValueError) as exc:
                phase.failed(f"{type(exc).__name__}: {exc}")
                await client.close()
                continue
            phase.latencies.append(time.perf_counter() - began)
    finally:
        await client.close()


async def ws_stream(i: int, url: str, headers: dict, texts: list[str], until: float,
                    phase: Phase) -> None:
    ws_url = "ws" + url[len("http"):] + "/v1/stream/text"
    try:
        async with websockets.connect(ws_url, additional_headers=headers) as ws:
            n = i
            while time.perf_counter() < until:
                began = time.perf_counter()
                await ws.send(json.dumps({"text": texts[n % len(texts)], "id": n}))
                reply = json.loads(await ws.recv())
                if reply.get("id") != n or not reply.get("results"):
                    phase.failed(f"unexpected reply {str(reply)[:200]}")
                    return
                phase.latencies.append(time.perf_counter() - began)
                n += 1
    except (OSError, websockets.WebSocketException) as exc:
        phase.failed(f"{type(exc).__name__}: {exc}")


async def run_http(url: str, headers: dict, clients: int, seconds: float) -> Phase:
    phase, texts = Phase(f"HTTP POST /v1/analyze/text x{clients} clients"), sample_texts()
    began = time.perf_counter()
    until = began + seconds
    await asyncio.gather(*(http_client(i, url, headers, texts, until, phase)
                           for i in range(clients)))
    phase.seconds = time.perf_counter() - began
    return phase


async def run_ws(url: str, headers: dict, streams: int, seconds: float) -> Phase:
    phase, texts = Phase(f"WebSocket /v1/stream/text x{streams} streams"), sample_texts()
    began = time.perf_counter()
    until = began + seconds
    await asyncio.gather(*(ws_stream(i, url, headers, texts, until, phase)
                           for i in range(streams)))
    phase.seconds = time.perf_counter() - began
    return phase


def start_server(model: str, flags: tuple[str, ...] = (), env: dict[str, str] | None = None
                 ) -> tuple[subprocess.Popen, str, tempfile.TemporaryDirectory]:
    """`emolens serve` (with ``flags``, and ``env`` added to the environment) on a free
    loopback port with a fresh database, once it is ready."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = tempfile.TemporaryDirectory(prefix="emolens-load-")
    command = [sys.executable, "-m", "emolens.cli", "serve", "--host", "127.0.0.1",
               "--port", str(port), "--db", str(Path(folder.name) / "load.db"), "--no-auth",
               "--rate-limit", "0", "--model", model, "--log-level", "warning", *flags]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server stopped: {process.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return process, url, folder
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    process.kill()
    raise SystemExit("the server did not become ready in 180 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each phase")
    parser.add_argument("--clients", type=int, default=64, help="concurrent HTTP clients")
    parser.add_argument("--streams", type=int, default=16, help="concurrent WebSocket streams")
    parser.add_argument("--url", help="a running server (loopback only); default: start one")
    parser.add_argument("--key", default=os.environ.get("EMOLENS_API_KEY"),
                        help="API key for --url (env EMOLENS_API_KEY)")
    parser.add_argument("--model", default="default", help="model the started server runs")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not 0 < args.seconds <= 600:
        parser.error("--seconds must be in (0, 600]")
    if args.url and not is_loopback(urlsplit(args.url).hostname or ""):
        parser.error(f"--url must be on loopback (127.0.0.0/8, ::1, localhost): {args.url}")

    process = folder = None
    if args.url:
        url = args.url.rstrip("/")
    else:
        process, url, folder = start_server(args.model)
    headers = {"Authorization": f"Bearer {args.key}"} if args.key else {}
    try:
        phases = [asyncio.run(run_http(url, headers, args.clients, args.seconds)),
                  asyncio.run(run_ws(url, headers, args.streams, args.seconds))]
    finally:
        if process is not None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)
            folder.cleanup()
    rows = [p.row() for p in phases]
    print(f"{'phase':<44} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'errors':>7}")
    for r in rows:
        print(f"{r['phase']:<44} {r['requests']:>9} {r['requests_per_s']:>8} "
              f"{r['p50_ms']!s:>8} {r['p99_ms']!s:>8} {r['errors']:>7}")
    for p in phases:
        if p.first_error:
            print(f"first error in {p.name}: {p.first_error}")
    if args.json:
        args.json.write_text(json.dumps({"cpus": os.cpu_count(), "seconds": args.seconds,
                                         "phases": rows}, indent=2))
    return 1 if any(p.errors for p in phases) else 0


if __name__ == "__main__":
    sys.exit(main())
