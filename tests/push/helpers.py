"""Small plan files and a local webhook receiver for the send tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd

from campaignrec.push.ledger import write_plan

NOW = pd.Timestamp("2025-03-03T04:00:00Z")


def plan_table(n: int, *, campaign: str = "spring", due: int | None = None) -> pd.DataFrame:
    """``n`` pushes of ``campaign``: the first ``due`` (default all) at or before NOW, the rest
    an hour apart after it; local times in Shanghai (+08:00)."""
    due = n if due is None else due
    rows = []
    for i in range(n):
        at = NOW - pd.Timedelta(minutes=n - i) if i < due else NOW + pd.Timedelta(hours=i - due + 1)
        rows.append(
            {
                "user_id": f"u{i:04d}",
                "campaign_id": campaign,
                "channel": "app_push",
                "send_at": at.tz_convert("Asia/Shanghai").isoformat(),
                "content": f"春季促销 {i}",
                "expected_value": 0.1,
                "send_at_utc": at.isoformat(),
                "timezone": "Asia/Shanghai",
                "language": "zh",
            }
        )
    return pd.DataFrame(rows)


def plan_file(tmp: Path, n: int, *, due: int | None = None, suffix: str = ".csv") -> Path:
    return write_plan(plan_table(n, due=due), tmp / f"plan{suffix}")


@dataclass
class Receiver:
    """What the local webhook got: bodies and headers; ``script`` answers the next requests
    with these status codes (then 200)."""

    url: str = ""
    received: list[tuple[dict[str, str], dict[str, object]]] = field(default_factory=list)
    script: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def keys(self) -> list[str]:
        return [h.get("Idempotency-Key", "") for h, _ in self.received]


@contextmanager
def webhook(port: int = 0) -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with rec.lock:
                code = rec.script.pop(0) if rec.script else 200
                if code == 200:
                    rec.received.append((dict(self.headers), json.loads(body)))
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/push"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
