"""What the loopback stand-ins share: an HTTP server on a thread, JSON answers, and running one on its own."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def serve(description: str, make: Callable[[str, int], Any], *, port: int, sizes: Callable[[Any], dict]) -> None:
    """Parse ``--port`` and ``--token``, start ``make(token, port)``, and print its audiences' sizes each minute
    until Ctrl-C."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--token", default="demo-token", help="The access token it accepts.")
    args = parser.parse_args()
    fake = make(args.token, args.port)
    sys.stdout.write(f"{description} on {fake.url}, accepting the token {args.token!r}. Ctrl-C stops it.\n")
    sys.stdout.flush()
    try:
        while True:
            time.sleep(60)
            sys.stdout.write(f"audiences and their sizes: {sizes(fake)}\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        fake.stop()


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing (a stand-in's requests carry tokens) and answers JSON."""

    def log_message(self, *args: Any) -> None:
        pass

    def reply_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class Loopback:
    """A stand-in served over HTTP on 127.0.0.1 from a thread of its own: ``url`` while it runs, ``stop`` to end."""

    server: ThreadingHTTPServer
    url: str

    def _serve(self, handler: type[BaseHTTPRequestHandler], port: int) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
