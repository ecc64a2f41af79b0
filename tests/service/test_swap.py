"""A model swap under load: requests fired throughout an activation all succeed.

The service runs in its own process (uvicorn, embedded SQLite, one worker) on 127.0.0.1;
four client threads send a bounded number of requests while an admin activates another version.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from campaignrec.config import load_settings
from campaignrec.pipeline import train
from campaignrec.store.sql import SQLStore
from tests.service.conftest import make_keys


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_activation_under_load_fails_no_request(home: Path) -> None:
    settings = load_settings(home)
    store = SQLStore(settings.resolved_database_url)
    old = store.list_models()
    old_version = str(old[old["active"].astype(bool)]["version"].iloc[-1])
    new_version = train(store, settings, model="ease").version  # now active: ease
    store.close()
    keys = make_keys(home)
    port = _free_port()
    env = {
        **os.environ,
        "CAMPAIGNREC_HOME": str(home),
        "CAMPAIGNREC_MODEL_CHECK_SECONDS": "0.05",
        "CAMPAIGNREC_API_RATE_PER_SECOND": "100000",
        "CAMPAIGNREC_API_RATE_BURST": "100000",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "campaignrec", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    read = {"Authorization": f"Bearer {keys['read']}"}
    results: list[tuple[float, int, str | None]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=base, headers=read, timeout=30) as c:
            for n in range(2000):  # bounded
                if stop.is_set():
                    return
                r = c.get(f"/v1/users/u{n % 4}/recommendations?k=3")
                body = r.json() if r.status_code == 200 else {}
                with lock:
                    results.append((time.monotonic(), r.status_code, body.get("model_version")))

    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the service did not start"
            try:
                if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        settle = time.monotonic() + 30  # a loaded machine: wait for answers before swapping
        while time.monotonic() < settle:
            with lock:
                if len(results) >= 8:
                    break
            time.sleep(0.05)
        swapped_at = time.monotonic()
        r = httpx.post(
            f"{base}/v1/models/item_knn/activate",
            json={"version": old_version},
            headers={"Authorization": f"Bearer {keys['admin']}"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        time.sleep(0.7)
        stop.set()
        for t in threads:
            t.join(timeout=30)
    finally:
        stop.set()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    statuses = {s for _, s, _ in results}
    assert statuses == {200}, statuses
    before = [v for t, _, v in results if t < swapped_at]
    assert before and set(before) == {new_version}
    assert {v for _, _, v in results} <= {new_version, old_version}
    assert results[-1][2] == old_version  # the activated version is served, no restart
