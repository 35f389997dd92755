"""A loopback HTTP proxy that forwards to an S3 endpoint and injects faults on request.

    proxy = FaultProxy("http://127.0.0.1:8333", seed=7)
    proxy.fail(503, method="PUT", first=2)               # the first two PUTs get a 503
    proxy.reset(method="PUT", match="partNumber=", after=3)  # later part PUTs die mid-body
    proxy.reset_response(method="GET", fraction=0.2)     # some GETs die mid-response
    proxy.delay(0.5, method="POST")
    with proxy as endpoint:                              # "http://127.0.0.1:<port>"
        ...
    proxy.count("PUT", match="partNumber=")              # requests seen, faulty or not

Standard library only; listens on 127.0.0.1 and forwards to a loopback upstream only. It is
bounded: every socket has a timeout, and the server stops itself after `lifetime` seconds
(and when the ``with`` block ends). Requests keep their ``Host`` header, so SigV4 signatures
made for the proxy's address still verify upstream.

Faults:
- ``fail``: answer with an S3-style XML error and close the connection, without forwarding;
- ``reset``: read part of the request body, then reset the connection (RST), not forwarded;
- ``reset_response``: forward, relay the response head and part of its body, then reset;
- ``delay``: wait before forwarding.
Each rule picks requests by method and by a substring of the path and query; `after` lets the
first matching requests through; `first` limits how many it hits; `fraction` hits that share
of them at random (seeded).
"""

from __future__ import annotations

import http.client
import random
import socket
import socketserver
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from urllib.parse import urlsplit

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "upgrade",
    "expect",
}
REASONS = {500: "InternalError", 502: "BadGateway", 503: "SlowDown", 504: "GatewayTimeout"}


@dataclass
class Rule:
    action: str  # "fail" | "reset" | "reset_response" | "delay"
    method: str | None = None
    match: str | None = None
    after: int = 0
    first: int | None = None
    fraction: float = 1.0
    status: int = 503
    seconds: float = 0.0
    at_byte: int | None = None
    seen: int = 0
    hits: int = 0

    def applies(self, method: str, target: str, rng: random.Random) -> bool:
        if self.method is not None and method != self.method:
            return False
        if self.match is not None and self.match not in target:
            return False
        self.seen += 1
        if self.seen <= self.after:
            return False
        if self.first is not None and self.hits >= self.first:
            return False
        if self.fraction < 1.0 and rng.random() >= self.fraction:
            return False
        self.hits += 1
        return True


@dataclass
class Seen:
    method: str
    target: str
    fault: str | None


@dataclass
class _State:
    rules: list[Rule] = field(default_factory=list)
    log: list[Seen] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0


class FaultProxy:
    def __init__(self, upstream: str, *, seed: int = 0, lifetime: float = 120.0) -> None:
        parts = urlsplit(upstream)
        if parts.hostname not in {"127.0.0.1", "localhost", "::1"}:
            raise ValueError(f"FaultProxy forwards to loopback only, not {upstream}")
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.lifetime = lifetime
        self.timeout = 30.0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._state = _State()
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self.endpoint = ""

    # -- rules ---------------------------------------------------------------------------

    # `pick` is any of: method, match, after, first, fraction (see Rule).

    def fail(self, status: int = 503, **pick: Any) -> Rule:
        return self._add(Rule("fail", status=status, **pick))

    def reset(self, *, at_byte: int | None = None, **pick: Any) -> Rule:
        """Reset after `at_byte` bytes of the request body (default: half of it)."""
        return self._add(Rule("reset", at_byte=at_byte, **pick))

    def reset_response(self, *, at_byte: int | None = None, **pick: Any) -> Rule:
        """Reset after `at_byte` bytes of the response body (default: half of it)."""
        return self._add(Rule("reset_response", at_byte=at_byte, **pick))

    def delay(self, seconds: float, **pick: Any) -> Rule:
        return self._add(Rule("delay", seconds=seconds, **pick))

    def clear(self) -> None:
        with self._lock:
            self._state.rules.clear()

    def _add(self, rule: Rule) -> Rule:
        with self._lock:
            self._state.rules.append(rule)
        return rule

    # -- what was seen -------------------------------------------------------------------

    def count(self, method: str | None = None, *, match: str | None = None) -> int:
        with self._lock:
            return sum(
                1
                for s in self._state.log
                if (method is None or s.method == method) and (match is None or match in s.target)
            )

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(s.method for s in self._state.log)

    def faults(self) -> Counter[str]:
        with self._lock:
            return Counter(s.fault for s in self._state.log if s.fault)

    @property
    def max_in_flight(self) -> int:
        return self._state.max_in_flight

    def reset_counts(self) -> None:
        with self._lock:
            self._state.log.clear()
            self._state.max_in_flight = 0

    # -- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> str:
        self.start()
        return self.endpoint

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> str:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.proxy = self
        self._server = server
        self.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        serve = threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True)
        serve.start()
        timer = threading.Timer(self.lifetime, self.stop)
        timer.daemon = True
        timer.start()
        self._threads = [serve]
        self._timer = timer
        return self.endpoint

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._timer.cancel()
        server.shutdown()
        server.server_close()
        server.close_connections()

    # -- the per-request decision (called by handler threads) ----------------------------

    def _decide(self, method: str, target: str) -> Rule | None:
        with self._lock:
            chosen = None
            for rule in self._state.rules:
                if rule.applies(method, target, self._rng) and chosen is None:
                    chosen = rule
            self._state.log.append(Seen(method, target, chosen.action if chosen else None))
            return chosen

    def _enter(self) -> None:
        with self._lock:
            self._state.in_flight += 1
            self._state.max_in_flight = max(self._state.max_in_flight, self._state.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._state.in_flight -= 1


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: FaultProxy

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def track(self, sock: socket.socket, alive: bool) -> None:
        with self._open_lock:
            (self._open.add if alive else self._open.discard)(sock)

    def close_connections(self) -> None:
        with self._open_lock:
            for sock in list(self._open):
                _rst(sock)
            self._open.clear()


class _Closed(Exception):
    pass


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        proxy = self.server.proxy
        sock.settimeout(proxy.timeout)
        self.server.track(sock, True)
        reader = sock.makefile("rb")
        try:
            while self._one(sock, reader, proxy):
                pass
        except (_Closed, OSError, http.client.HTTPException):
            pass
        finally:
            self.server.track(sock, False)
            reader.close()

    def _one(self, sock: socket.socket, reader: BinaryIO, proxy: FaultProxy) -> bool:
        """Serve one request; False when the connection is finished."""
        head = _read_head(reader)
        if head is None:
            return False
        method, target, headers = head
        length = int(headers.get("content-length", "0") or 0)
        if headers.get("expect", "").lower() == "100-continue":
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        rule = proxy._decide(method, target)
        proxy._enter()
        try:
            if rule is not None and rule.action == "reset":
                _read_exactly(reader, rule.at_byte if rule.at_byte is not None else length // 2)
                _rst(sock)
                return False
            body = _read_exactly(reader, length)
            if rule is not None and rule.action == "fail":
                _send_error(sock, rule.status, target)
                return False
            if rule is not None and rule.action == "delay":
                time.sleep(rule.seconds)
            cut = rule.at_byte if rule is not None and rule.action == "reset_response" else None
            resetting = rule is not None and rule.action == "reset_response"
            return self._forward(sock, proxy, method, target, headers, body, resetting, cut)
        finally:
            proxy._leave()

    def _forward(
        self,
        sock: socket.socket,
        proxy: FaultProxy,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
        resetting: bool,
        cut: int | None,
    ) -> bool:
        host, port = proxy.upstream
        conn = http.client.HTTPConnection(host, port, timeout=proxy.timeout)
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                if name not in HOP_BY_HOP:
                    conn.putheader(name, value)
            conn.endheaders(body if body else None)
            response = conn.getresponse()
            data = response.read()
            out = [f"HTTP/1.1 {response.status} {response.reason}"]
            for name, value in response.getheaders():
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                    out.append(f"{name}: {value}")
            declared = response.getheader("Content-Length")
            size = len(data) if method != "HEAD" or declared is None else int(declared)
            out.append(f"Content-Length: {size}")
            sock.sendall(("\r\n".join(out) + "\r\n\r\n").encode("latin-1"))
            if resetting:
                sock.sendall(data[: cut if cut is not None else len(data) // 2])
                _rst(sock)
                return False
            if method != "HEAD":
                sock.sendall(data)
            return True
        finally:
            conn.close()


def _read_head(reader: BinaryIO) -> tuple[str, str, dict[str, str]] | None:
    line = reader.readline(65537)
    if not line:
        return None
    try:
        method, target, _version = line.decode("latin-1").split()
    except ValueError:
        raise _Closed from None
    headers: dict[str, str] = {}
    for _ in range(200):
        raw = reader.readline(65537)
        if raw in (b"\r\n", b"\n", b""):
            return method, target, headers
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    raise _Closed


def _read_exactly(reader: BinaryIO, length: int) -> bytes:
    data = reader.read(length) if length > 0 else b""
    if len(data) != max(length, 0):
        raise _Closed
    return data


def _send_error(sock: socket.socket, status: int, target: str) -> None:
    code = REASONS.get(status, "InternalError")
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        f"<Message>injected by FaultProxy</Message><Resource>{target}</Resource></Error>"
    ).encode()
    head = (
        f"HTTP/1.1 {status} {code}\r\nContent-Type: application/xml\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    sock.sendall(head.encode("latin-1") + body)


def _rst(sock: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a crashed peer or a middlebox would."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass
