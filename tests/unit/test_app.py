"""server/app.py: the LLM probe behind /health, against real sockets (no server of ours needed)."""

from __future__ import annotations

import asyncio
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from server.status import probe_llm


class _Models(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(200 if self.path == "/v1/models" else 404)
        self.end_headers()
        self.wfile.write(b'{"data": []}')

    def log_message(self, *args: object) -> None:
        pass


def test_a_busy_llm_is_up_a_refusing_one_is_down():
    up = HTTPServer(("127.0.0.1", 0), _Models)
    threading.Thread(target=up.serve_forever, daemon=True).start()
    busy = socket.socket()  # accepts the connection (the kernel's backlog) and never replies
    busy.bind(("127.0.0.1", 0))
    busy.listen(4)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    down_port = closed.getsockname()[1]
    closed.close()
    try:
        ok = asyncio.run(probe_llm(f"http://127.0.0.1:{up.server_port}/v1", 1.0))
        assert ok["ok"] and "busy" not in ok
        slow = asyncio.run(probe_llm(f"http://127.0.0.1:{busy.getsockname()[1]}/v1", 1.0, read_timeout=0.3))
        assert slow["ok"] and slow["busy"]
        down = asyncio.run(probe_llm(f"http://127.0.0.1:{down_port}/v1", 1.0))
        assert not down["ok"] and down["error"] == "ConnectError"
    finally:
        up.shutdown()
        busy.close()
