"""Load on the live streams of `emolens serve`, loopback only: concurrent audio and video streams.

    python benchmarks/stream_load.py                     # 16 audio streams 30 s, then 16 video
    python benchmarks/stream_load.py --only video --seconds 10
    python benchmarks/stream_load.py --url http://127.0.0.1:8000 --key emk_...   # a running one

Without --url it starts `emolens serve --audio --vision --no-auth --rate-limit 0` on a free
loopback port, with as many stream slots as streams (EMOLENS_AUDIO_STREAMS/VIDEO_STREAMS),
and stops it at the end. A running server keeps its own slots: streams beyond them are
refused (1013) and counted as errors.

Audio: each stream sends 16 kHz PCM16 in 100 ms chunks at real-time pace (the two speech
fixtures in turn, between pauses); latency runs from sending the chunk that holds a segment's
end to receiving that segment. Video: each stream sends a 640x360 JPEG of two FER2013 faces at
5 fps without waiting; latency runs from sending a frame to its reply, and frames the server
replaced by newer ones are counted as dropped. After --seconds each stream sends {"end": true}
and waits up to --grace seconds for its summary; later results are not counted. An audio
stream whose analysis falls more than audio_max_lag_seconds behind has audio skipped by the
server ({"type": "skipped"}): the seconds skipped are counted (skipped_s, over all streams).
The clients send no keepalive pings of their own; the server's are answered.

CPU is read from /proc (Linux): the server's process (when started here), this client, and the
whole machine, as a share of one core and of all cores over each phase.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import websockets
from server_load import start_server

from emolens.server.settings import is_loopback

ROOT = Path(__file__).resolve().parents[1]
SPEECH = [ROOT / "tests/fixtures/audio/en_flight.ogg", ROOT / "tests/fixtures/audio/zh_gift.ogg"]
RATE = 16_000
CHUNK = RATE // 10  # samples per message: 100 ms
FPS = 5.0


@dataclass
class Phase:
    """What the streams of one phase measured."""

    name: str
    streams: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    sent: int = 0  # chunks or frames
    answered: int = 0  # segments or frames
    dropped: int = 0  # frames the server replaced by newer ones
    skipped: float = 0.0  # seconds of audio the server skipped to catch up (all streams)
    unfinished: int = 0  # streams whose summary did not come within the grace period
    errors: int = 0
    first_error: str = ""
    cpu: dict[str, float] = field(default_factory=dict)

    def failed(self, what: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or what

    def row(self) -> dict:
        lat = np.asarray(self.latencies) * 1000

        def pct(q: float) -> float | None:
            return round(float(np.percentile(lat, q)), 1) if len(lat) else None

        return {"phase": self.name, "streams": self.streams, "seconds": round(self.seconds, 1),
                "sent": self.sent, "answered": self.answered, "dropped": self.dropped,
                "skipped_s": round(self.skipped, 1),
                "p50_ms": pct(50), "p99_ms": pct(99), "max_ms": pct(100),
                "unfinished": self.unfinished, "errors": self.errors, **self.cpu}


# -- inputs --------------------------------------------------------------------------------------


def speech_pcm() -> list[bytes]:
    """Each fixture between a 1 s and a 1.5 s pause, as 16-bit little-endian PCM."""
    from emolens.audio.decode import load_audio

    out = []
    for path in SPEECH:
        audio = np.concatenate([np.zeros(RATE, np.float32), load_audio(path),
                                np.zeros(RATE * 3 // 2, np.float32)])
        out.append((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return out


def face_frames(fer: Path, n: int = 10) -> list[bytes]:
    """Two FER2013 faces (happy, surprised) drifting right on a plain 640x360 scene, as JPEGs."""
    from PIL import Image

    crops = [sorted((fer / label).glob("PrivateTest_*.jpg"))[0] for label in ("happy", "surprise")]
    if not all(c.is_file() for c in crops):
        raise SystemExit(f"FER2013 test crops not found under {fer} (use --fer)")
    faces = [Image.open(c).convert("RGB").resize((120, 120)) for c in crops]
    frames = []
    for k in range(n):
        scene = Image.new("RGB", (640, 360), (70, 90, 110))
        for i, face in enumerate(faces):
            scene.paste(face, (60 + 260 * i + 4 * k, 60))
        buffer = io.BytesIO()
        scene.save(buffer, format="JPEG", quality=85)
        frames.append(buffer.getvalue())
    return frames


# -- streams -------------------------------------------------------------------------------------


def ws_url(url: str, path: str) -> str:
    return "ws" + url[len("http"):] + path


async def closing(ws, phase: Phase, grace: float, on_message) -> None:
    """After {"end": true}: messages to ``on_message`` until the summary and a clean close."""
    try:
        async with asyncio.timeout(grace):
            async for raw in ws:
                if on_message(json.loads(raw)) == "summary":
                    break
            else:  # closed before the summary
                phase.failed(f"closed {ws.close_code}: {ws.close_reason}")
                return
            await ws.wait_closed()
    except TimeoutError:
        phase.unfinished += 1
        return
    if ws.close_code != 1000:
        phase.failed(f"closed {ws.close_code}: {ws.close_reason}")


async def audio_stream(i: int, url: str, headers: dict, pcm: bytes, until: float, grace: float,
                       phase: Phase) -> None:
    sent_at: list[float] = []  # when chunk k went out
    step = CHUNK * 2

    def on_message(msg: dict) -> str:
        if msg["type"] == "segment":
            k = min(len(sent_at) - 1, int(msg["result"]["t_end"] * RATE) // CHUNK)
            phase.latencies.append(time.perf_counter() - sent_at[k])
            phase.answered += 1
        elif msg["type"] == "skipped":
            phase.skipped += msg["seconds"]
        return msg["type"]

    try:
        async with websockets.connect(ws_url(url, "/v1/stream/audio?sample_rate=16000"),
                                      additional_headers=headers, max_size=None,
                                      ping_interval=None) as ws:
            receiver = asyncio.create_task(_receive_until_end(ws, on_message))
            try:
                began = time.perf_counter()
                k = 0
                while (now := time.perf_counter()) < until:
                    await asyncio.sleep(max(0.0, began + k * CHUNK / RATE - now))  # real time
                    offset = (k * step) % len(pcm)
                    await ws.send(pcm[offset : offset + step])
                    sent_at.append(time.perf_counter())
                    phase.sent += 1
                    k += 1
            finally:
                await _stop(receiver)
            await ws.send(json.dumps({"end": True}))
            await closing(ws, phase, grace, on_message)
    except (OSError, websockets.WebSocketException) as exc:
        phase.failed(f"audio stream {i}: {type(exc).__name__}: {exc}")


async def _receive_until_end(ws, on_message) -> None:
    """Read results while the stream still sends (cancelled when it stops sending)."""
    async for raw in ws:
        on_message(json.loads(raw))


async def _stop(receiver: asyncio.Task) -> None:
    """Cancel the reader and wait for it (a close it saw is the sender's to report)."""
    receiver.cancel()
    await asyncio.gather(receiver, return_exceptions=True)


async def video_stream(i: int, url: str, headers: dict, frames: list[bytes], until: float,
                       grace: float, phase: Phase) -> None:
    sent_at: dict[int, float] = {}

    def on_message(msg: dict) -> str:
        if msg["type"] == "frame":
            phase.latencies.append(time.perf_counter() - sent_at.pop(msg["id"]))
            phase.answered += 1
            phase.dropped += len(msg["dropped"])
            for seq in msg["dropped"]:
                sent_at.pop(seq, None)
        return msg["type"]

    try:
        async with websockets.connect(ws_url(url, "/v1/stream/video"),
                                      additional_headers=headers, max_size=None,
                                      ping_interval=None) as ws:
            receiver = asyncio.create_task(_receive_until_end(ws, on_message))
            try:
                began = time.perf_counter() + i / FPS / phase.streams  # spread over a tick
                n = 0
                while (now := time.perf_counter()) < until:
                    await asyncio.sleep(max(0.0, began + n / FPS - now))
                    n += 1
                    await ws.send(json.dumps({"t": round(n / FPS, 3), "id": n}))
                    sent_at[n] = time.perf_counter()
                    await ws.send(frames[n % len(frames)])
                    phase.sent += 1
            finally:
                await _stop(receiver)
            await ws.send(json.dumps({"end": True}))
            await closing(ws, phase, grace, on_message)
    except (OSError, websockets.WebSocketException) as exc:
        phase.failed(f"video stream {i}: {type(exc).__name__}: {exc}")


# -- CPU -----------------------------------------------------------------------------------------


def _ticks(pid: int | None) -> float:
    """CPU seconds of a process (all its threads), from /proc."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine() -> tuple[float, float]:
    """(busy, total) CPU seconds of the machine since boot, from /proc/stat."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / os.sysconf("SC_CLK_TCK"), sum(values) / os.sysconf("SC_CLK_TCK")


async def measured(phase: Phase, server_pid: int | None, streams) -> Phase:
    """Run the streams; fill in the phase's wall time and CPU shares."""
    server0, client0, machine0, wall0 = _ticks(server_pid), time.process_time(), _machine(), \
        time.perf_counter()
    await asyncio.gather(*streams)
    wall = time.perf_counter() - wall0
    machine = _machine()
    phase.seconds = wall
    cores = os.cpu_count() or 1
    busy = (machine[0] - machine0[0]) / max(1e-9, machine[1] - machine0[1])
    phase.cpu = {
        "server_cpu_pct": round(100 * (_ticks(server_pid) - server0) / wall, 1)
        if server_pid else None,
        "client_cpu_pct": round(100 * (time.process_time() - client0) / wall, 1),
        "machine_busy_pct": round(100 * busy, 1), "cores": cores,
    }
    return phase


async def run_audio(url: str, headers: dict, n: int, seconds: float, grace: float,
                    pid: int | None) -> Phase:
    phase, pcm = Phase(f"audio /v1/stream/audio x{n}", n), speech_pcm()
    until = time.perf_counter() + seconds
    return await measured(phase, pid, (audio_stream(i, url, headers, pcm[i % len(pcm)], until,
                                                    grace, phase) for i in range(n)))


async def run_video(url: str, headers: dict, n: int, seconds: float, grace: float,
                    pid: int | None, fer: Path) -> Phase:
    phase, frames = Phase(f"video /v1/stream/video x{n} @{FPS:g} fps", n), face_frames(fer)
    until = time.perf_counter() + seconds
    return await measured(phase, pid, (video_stream(i, url, headers, frames, until, grace,
                                                    phase) for i in range(n)))


def drain(process: subprocess.Popen) -> deque[str]:
    """Keep reading the server's log (a full pipe would block it), holding its last lines."""
    lines: deque[str] = deque(maxlen=40)

    def read() -> None:
        for line in process.stderr:
            lines.append(line.decode(errors="replace"))

    threading.Thread(target=read, daemon=True).start()
    return lines


def stop(process: subprocess.Popen) -> None:
    """Ctrl-C for the server; killed if it has not stopped in 60 s (streams still busy)."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        print("the server had not stopped 60 s after Ctrl-C: killed")
        process.kill()
        process.wait()


def report(phases: list[Phase]) -> None:
    print(f"{'phase':<34} {'sent':>6} {'answered':>8} {'dropped':>7} {'skip s':>7} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'max ms':>8} {'unfin.':>6} {'errors':>6} {'server%':>8} "
          f"{'client%':>8} {'machine%':>8}")
    for p in phases:
        r = p.row()
        print(f"{r['phase']:<34} {r['sent']:>6} {r['answered']:>8} {r['dropped']:>7} "
              f"{r['skipped_s']:>7} "
              f"{r['p50_ms']!s:>8} {r['p99_ms']!s:>8} {r['max_ms']!s:>8} {r['unfinished']:>6} "
              f"{r['errors']:>6} {r['server_cpu_pct']!s:>8} {r['client_cpu_pct']!s:>8} "
              f"{r['machine_busy_pct']!s:>8}")
    print(f"CPU: server% and client% are shares of one core (100 = one core busy), machine% "
          f"of all {os.cpu_count()} cores; sent/answered: audio chunks (100 ms) and segments, "
          f"video frames; skip s: seconds of audio the server skipped, all streams")
    for p in phases:
        if p.first_error:
            print(f"first error in {p.name}: {p.first_error}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="sending time per phase")
    parser.add_argument("--grace", type=float, default=60.0,
                        help="after sending, how long each stream waits for its summary")
    parser.add_argument("--streams", type=int, default=16, help="concurrent streams per phase")
    parser.add_argument("--only", choices=("audio", "video"), help="run one phase")
    parser.add_argument("--url", help="a running server (loopback only); default: start one")
    parser.add_argument("--key", default=os.environ.get("EMOLENS_API_KEY"),
                        help="API key for --url (env EMOLENS_API_KEY)")
    parser.add_argument("--fer", type=Path, default=ROOT.parent / "shared/data/fer2013/test",
                        help="FER2013 test crops (folders per label)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not 0 < args.seconds <= 600 or not 0 < args.grace <= 600:
        parser.error("--seconds and --grace must be in (0, 600]")
    if args.url and not is_loopback(urlsplit(args.url).hostname or ""):
        parser.error(f"--url must be on loopback (127.0.0.0/8, ::1, localhost): {args.url}")
    kinds = [args.only] if args.only else ["audio", "video"]
    if "video" in kinds:
        face_frames(args.fer, 1)  # a missing data set stops here, before any server starts

    process = folder = None
    if args.url:
        url = args.url.rstrip("/")
    else:
        flags = tuple({"audio": "--audio", "video": "--vision"}[k] for k in kinds)
        env = {"EMOLENS_AUDIO_STREAMS": str(args.streams),
               "EMOLENS_VIDEO_STREAMS": str(args.streams)}
        process, url, folder = start_server("default", flags, env)
    pid = process.pid if process is not None else None
    log = drain(process) if process is not None else deque()
    headers = {"Authorization": f"Bearer {args.key}"} if args.key else {}
    phases = []
    try:
        for kind in kinds:
            if kind == "audio":
                run = run_audio(url, headers, args.streams, args.seconds, args.grace, pid)
            else:
                run = run_video(url, headers, args.streams, args.seconds, args.grace, pid,
                                args.fer)
            phases.append(asyncio.run(run))
    finally:
        if process is not None:
            stop(process)
            folder.cleanup()
    report(phases)
    if any(p.errors for p in phases) and log:
        print("server log (last lines):\n" + "".join(log))
    if args.json:
        args.json.write_text(json.dumps({"cpus": os.cpu_count(), "seconds": args.seconds,
                                         "phases": [p.row() for p in phases]}, indent=2))
    return 1 if any(p.errors for p in phases) else 0


if __name__ == "__main__":
    sys.exit(main())
