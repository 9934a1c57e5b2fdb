"""An OpenAI-compatible chat-completions server on loopback whose replies each test scripts.

``with FakeLLM() as llm: llm.script(Reply(...), ...)``: scripted replies are served in
order, then ``respond(body)`` answers (by default a valid answer built from the text).
``llm.script_for(text, ...)`` scripts the replies to requests about one text, whatever the
order in which concurrent requests arrive. Every request is recorded (headers and JSON
body) in ``llm.requests``; ``llm.max_in_flight`` is the most handled at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

USAGE = {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70}


@dataclass
class Reply:
    """One scripted reply: an assistant message, or a raw status/body, after ``delay`` s."""

    content: str | None = None
    status: int = 200
    body: str | None = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    usage: dict[str, int] | None = field(default_factory=lambda: dict(USAGE))


def answer(emotions: dict[str, float], evidence: list[str] | tuple[str, ...] = (),
           valence: float = 0.0, arousal: float = 0.0,
           rationale: str = "It reads that way.") -> str:
    """An answer as the model would write it."""
    return json.dumps({
        "emotions": [{"label": k, "intensity": v} for k, v in emotions.items()],
        "valence": valence, "arousal": arousal, "evidence": list(evidence),
        "rationale": rationale,
    }, ensure_ascii=False)


def sent_text(body: dict[str, Any]) -> str:
    """The text the client asked about, as it arrived (between the prompt's triple quotes)."""
    content = body["messages"][1]["content"]
    return content[content.index('"""\n') + 4 : content.rindex('\n"""')]


def default_respond(body: dict[str, Any]) -> Reply:
    """A valid, deterministic answer: joy for happy words, else neutral; quotes the first word."""
    text = sent_text(body)
    happy = any(w in text.lower() for w in ("happy", "love", "great", "开心", "哈哈"))
    emotions = {"joy": 0.8, "neutral": 0.2} if happy else {"neutral": 0.7, "sadness": 0.1}
    words = text.split()
    return Reply(answer(emotions, words[:1] if words else []))


class FakeLLM:
    """The server; use it as a context manager. ``url`` ends in /v1 like a real endpoint."""

    def __init__(self, respond: Callable[[dict[str, Any]], Reply] = default_respond) -> None:
        self.respond = respond
        self.requests: list[dict[str, Any]] = []
        self._script: deque[Reply] = deque()
        self._per_text: dict[str, deque[Reply]] = {}
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.02}, daemon=True)

    def script(self, *replies: Reply) -> None:
        """Serve these replies, in order, before falling back to ``respond``."""
        with self._lock:
            self._script.extend(replies)

    def script_for(self, text: str, *replies: Reply) -> None:
        """Serve these replies, in order, to requests about ``text`` (as it arrives)."""
        with self._lock:
            self._per_text.setdefault(text, deque()).extend(replies)

    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies received so far."""
        return [r["body"] for r in self.requests]

    def texts(self) -> list[str]:
        """The texts asked about so far (one per request, repairs included)."""
        return [sent_text(b) for b in self.bodies()]

    def __enter__(self) -> FakeLLM:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next(self, body: dict[str, Any], headers: dict[str, str]) -> Reply:
        with self._lock:
            self.requests.append({"body": body, "headers": headers})
            queue = self._per_text.get(sent_text(body))
            if queue:
                return queue.popleft()
            if self._script:
                return self._script.popleft()
        return self.respond(body)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != "/v1/chat/completions":
                    self._send(404, json.dumps({"error": "not found"}), {})
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                with fake._lock:
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    reply = fake._next(json.loads(raw), headers)
                    time.sleep(reply.delay)
                finally:
                    with fake._lock:
                        fake.in_flight -= 1
                body = reply.body
                if body is None:
                    completion: dict[str, Any] = {
                        "id": "chatcmpl-test", "object": "chat.completion",
                        "choices": [{"index": 0, "finish_reason": "stop", "message": {
                            "role": "assistant", "content": reply.content}}],
                    }
                    if reply.usage is not None:
                        completion["usage"] = reply.usage
                    body = json.dumps(completion, ensure_ascii=False)
                self._send(reply.status, body, reply.headers)

            def _send(self, status: int, body: str, headers: dict[str, str]) -> None:
                data = body.encode("utf-8")
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test)

        return Handler


@contextmanager
def configured(monkeypatch: Any, tmp_path: Path, respond: Callable[[dict[str, Any]], Reply]
               = default_respond) -> Iterator[FakeLLM]:
    """A running fake endpoint that the LLM settings point to (model "fake-model", quick
    retries, a cache of the test's own)."""
    monkeypatch.setenv("EMOLENS_CACHE_DIR", str(tmp_path / "cache"))
    with FakeLLM(respond) as server:
        monkeypatch.setenv("EMOLENS_LLM_BASE_URL", server.url)
        monkeypatch.setenv("EMOLENS_LLM_MODEL", "fake-model")
        monkeypatch.setenv("EMOLENS_LLM_BACKOFF", "0.01")
        yield server


_shared: list[FakeLLM] = []


def shared_server() -> FakeLLM:
    """One server answering with ``default_respond`` for the whole session (conformance);
    its thread is a daemon and ends with the test process."""
    if not _shared:
        _shared.append(FakeLLM().__enter__())
    return _shared[0]
