"""A webhook receiver on 127.0.0.1 that checks every signature with the shared secret and answers from a script of
statuses (the audience webhook destination's and the lead webhooks' tests)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from integrations.webhook.upload import signature_valid


class Receiver:
    """Verifies each POST's signature with the shared secret and answers from a script of statuses."""

    def __init__(self, secret: str):
        self.deliveries: list[dict[str, Any]] = []
        self.answers: list[tuple[int, dict[str, Any]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status, reply = receiver.answers.pop(0) if receiver.answers else (200, {})
                receiver.deliveries.append(
                    {
                        "id": self.headers["Ladder-Delivery"],
                        "event": self.headers.get("Ladder-Event", ""),
                        "signed": signature_valid(secret, body, self.headers["Ladder-Signature"]),
                        "body": json.loads(body),
                        "status": status,
                    }
                )
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/ladder"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
