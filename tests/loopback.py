"""Real servers on 127.0.0.1 for connector and alert tests, each in a background thread.

``HttpServer``: http.server with routes (path -> handler(request) -> (status, headers, body));
every request is recorded (method, path with query, headers, body). ``SmtpServer``: enough
SMTP for smtplib (EHLO/HELO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT); every message
is recorded with its envelope and the login used.
"""

from __future__ import annotations

import base64
import socketserver
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Response = tuple[int, dict[str, str], bytes]
Handler = Callable[[Request], Response]


class HttpServer:
    """``with HttpServer() as server: server.route("/feed", handler); server.url("/feed")``."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[Request] = []
        owner = self

        class _Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(self.command, self.path,
                                  {k.lower(): v for k, v in self.headers.items()},
                                  self.rfile.read(length) if length else b"")
                owner.requests.append(request)
                handler = owner.routes.get(self.path.split("?")[0])
                status, headers, body = (handler(request) if handler
                                         else (404, {"Content-Type": "text/plain"}, b"no route"))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body and self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_HEAD = _serve

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def route(self, path: str, handler: Handler) -> None:
        self.routes[path] = handler

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> HttpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    data: bytes
    login: tuple[str, str] | None


@dataclass
class _Session:
    sender: str = ""
    recipients: list[str] = field(default_factory=list)
    login: tuple[str, str] | None = None


class SmtpServer:
    """``with SmtpServer() as smtp: ...; smtp.mails``: a tiny SMTP server, no TLS."""

    def __init__(self) -> None:
        self.mails: list[Mail] = []
        owner = self

        class _Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")
                self.wfile.flush()

            def handle(self) -> None:
                session = _Session()
                self.reply("220 localhost test SMTP")
                while line := self.rfile.readline():
                    command = line.decode("utf-8", "replace").rstrip("\r\n")
                    verb = command.split(" ", 1)[0].upper()
                    if verb == "EHLO":
                        self.reply("250-localhost")
                        self.reply("250-AUTH PLAIN")
                        self.reply("250 8BITMIME")
                    elif verb == "HELO":
                        self.reply("250 localhost")
                    elif verb == "AUTH":
                        _, user, password = base64.b64decode(command.split()[2]).split(b"\0")
                        session.login = (user.decode(), password.decode())
                        self.reply("235 2.7.0 authenticated")
                    elif verb == "MAIL":
                        session.sender = command.split(":", 1)[1].split()[0].strip("<>")
                        self.reply("250 OK")
                    elif verb == "RCPT":
                        session.recipients.append(command.split(":", 1)[1].strip().strip("<>"))
                        self.reply("250 OK")
                    elif verb == "DATA":
                        self.reply("354 end with <CRLF>.<CRLF>")
                        data = []
                        while (part := self.rfile.readline()) not in (b".\r\n", b""):
                            data.append(part[1:] if part.startswith(b"..") else part)
                        owner.mails.append(Mail(session.sender, session.recipients,
                                                b"".join(data), session.login))
                        session.recipients = []
                        self.reply("250 OK queued")
                    elif verb in ("RSET", "NOOP"):
                        self.reply("250 OK")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("502 not implemented")

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> SmtpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
