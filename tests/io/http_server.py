"""A real HTTP server on 127.0.0.1 for download tests, with switchable fault injection.

Serves the files of one directory (GET/HEAD), honours ``Range: bytes=N-`` / ``bytes=N-M`` with
``206 Partial Content`` and records every request (path and headers). Faults, set on
:attr:`ServedDir.faults` between requests:

* ``drop_after``: send the headers with the full ``Content-Length`` but only this many body bytes,
  then close the connection; applies to the first ``drop_requests`` requests (default 1);
* ``corrupt``: flip the bits of one byte in the middle of every body served;
* ``ignore_range``: answer ``200`` with the whole file even when a Range was asked for;
* ``status``: answer every request with this HTTP status (e.g. 503) and an empty body, for the
  first ``status_requests`` requests.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType


@dataclass
class Faults:
    drop_after: int | None = None
    drop_requests: int = 1
    corrupt: bool = False
    ignore_range: bool = False
    status: int | None = None
    status_requests: int = 1


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class ServedDir:
    """Handle on a running server: ``url(name)``, ``requests`` log and mutable ``faults``."""

    root: Path
    faults: Faults = field(default_factory=Faults)
    requests: list[Request] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def gets(self, name: str | None = None) -> list[Request]:
        with self._lock:
            return [
                r
                for r in self.requests
                if r.method == "GET" and (name is None or r.path == f"/{name}")
            ]

    def start(self) -> ServedDir:
        handler = _make_handler(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ServedDir:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _parse_range(value: str, size: int) -> tuple[int, int] | None:
    """``bytes=N-`` / ``bytes=N-M`` -> inclusive ``(start, end)``; None when unsatisfiable."""
    if not value.startswith("bytes="):
        return None
    start_s, _, end_s = value[6:].partition("-")
    start = int(start_s)
    end = int(end_s) if end_s else size - 1
    if start >= size:
        return None
    return start, min(end, size - 1)


def _make_handler(served: ServedDir) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return  # keep test output quiet

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _serve(self, body: bool) -> None:
            with served._lock:
                served.requests.append(Request(self.command, self.path, dict(self.headers.items())))
                n_get = sum(1 for r in served.requests if r.method == "GET")
                faults = served.faults
                status = faults.status if n_get <= faults.status_requests else None
                drop = faults.drop_after if n_get <= faults.drop_requests else None
            if status is not None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            path = served.root / self.path.lstrip("/")
            if not path.is_file():
                self.send_error(404)
                return
            data = path.read_bytes()
            if faults.corrupt and data:
                mid = len(data) // 2
                data = data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1 :]
            size = len(data)
            range_header = self.headers.get("Range")
            if range_header and not faults.ignore_range:
                rng = _parse_range(range_header, size)
                if rng is None:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start, end = rng
                payload = data[start : end + 1]
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            else:
                payload = data
                self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            if not body:
                return
            if drop is not None:
                self.wfile.write(payload[:drop])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(payload)

    return Handler
