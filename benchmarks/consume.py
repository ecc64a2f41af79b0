"""Stream consumption benchmark: events/s of ``campaignrec consume``'s loop per broker into SQLite.

For each broker (Redis Streams, RabbitMQ, NATS JetStream, the ones whose URL is given) it
publishes ``--events`` canonical events (one JSON event per message, one in 50 bad), then drains
them three ways, each on a fresh stream / queue / subject (``crbench-consume-...``, removed after):

* **bare**: the source's fetch and acknowledge alone (no decoding, validation or store): the
  ceiling the broker and its client set;
* **consume**: :func:`campaignrec.streams.consume` into a fresh SQLite store with an in-process
  online state: decode, validate, quarantine, store, online state, acknowledge;

and, as the reference measured in the same run, the same events imported from a JSON-lines file
with ``campaignrec.data.importer.import_file`` into a fresh SQLite store (the batch path).

Usage::

    nice -n 10 python benchmarks/consume.py                       # 20,000 events, batch 200
    python benchmarks/consume.py --events 5000 --brokers redis    # quick

Bounded: every drain stops after ``--events`` messages or ``--timeout`` seconds; traffic stays on
127.0.0.1. Writes ``benchmarks/results/consume.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _datasets import machine

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from campaignrec.config import load_settings  # noqa: E402
from campaignrec.data.importer import import_file  # noqa: E402
from campaignrec.store.online import MemoryOnlineState  # noqa: E402
from campaignrec.store.sql import SQLStore  # noqa: E402
from campaignrec.streams import consume, open_source  # noqa: E402

URLS = {
    "redis": os.environ.get("CAMPAIGNREC_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
    "amqp": os.environ.get(
        "CAMPAIGNREC_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"
    ),
    "nats": os.environ.get("CAMPAIGNREC_TEST_NATS_URL", "nats://127.0.0.1:4222"),
}


def events(n: int) -> list[bytes]:
    now = datetime.now(UTC).replace(microsecond=0)
    out = []
    for i in range(n):
        ev: dict[str, Any] = {
            "user_id": f"u{i % 5000}",
            "item_id": f"i{i % 2000}",
            "event_type": ("view", "view", "click", "add_to_cart", "purchase")[i % 5],
            "timestamp": (now - timedelta(seconds=i)).isoformat(),
            "session_id": f"s{i // 20}",
        }
        if i % 50 == 7:
            ev["event_type"] = "teleport"  # quarantined
        out.append(json.dumps(ev).encode())
    return out


# ---- publishing onto a fresh target ------------------------------------------------------------
def publish(kind: str, url: str, bodies: list[bytes]) -> tuple[str, Any]:
    """Publish onto a new target; returns its name and a cleanup function."""
    tag = "crbench-consume-" + uuid.uuid4().hex[:8]
    if kind == "redis":
        import redis

        r = redis.Redis.from_url(url)
        for lo in range(0, len(bodies), 1000):
            pipe = r.pipeline(transaction=False)
            for b in bodies[lo : lo + 1000]:
                pipe.xadd(tag, {"data": b})
            pipe.execute()
        return tag, lambda: (r.delete(tag), r.close())
    if kind == "amqp":
        import pika

        conn = pika.BlockingConnection(pika.URLParameters(url))
        ch = conn.channel()
        ch.queue_declare(tag, durable=True)
        props = pika.BasicProperties(delivery_mode=2)
        for b in bodies:
            ch.basic_publish("", tag, b, props)

        def cleanup() -> None:
            ch.queue_delete(tag)
            conn.close()

        return tag, cleanup
    import nats

    loop = asyncio.new_event_loop()

    async def go() -> Any:
        nc = await nats.connect(url)
        js = nc.jetstream()
        await js.add_stream(name=tag, subjects=[tag + ".events"])
        for lo in range(0, len(bodies), 1000):
            futs = [await js.publish_async(tag + ".events", b) for b in bodies[lo : lo + 1000]]
            await asyncio.gather(*futs)
        return nc

    nc = loop.run_until_complete(go())

    async def stop() -> None:
        await nc.jetstream().delete_stream(tag)
        await nc.close()

    def cleanup_nats() -> None:
        loop.run_until_complete(stop())
        loop.close()

    return tag + ".events", cleanup_nats


# ---- the drains --------------------------------------------------------------------------------
def bare(kind: str, url: str, name: str, n: int, batch: int, timeout: float) -> dict[str, Any]:
    src = open_source(url, name, group="bench", consumer="bench", batch=batch)
    got = 0
    t0 = time.perf_counter()
    try:
        while got < n and time.perf_counter() - t0 < timeout:
            msgs = src.fetch(batch, 0.5)
            src.ack(msgs)
            got += len(msgs)
    finally:
        src.close()
    s = time.perf_counter() - t0
    return {"messages": got, "seconds": round(s, 3), "per_s": round(got / s, 1)}


def full(
    kind: str, url: str, name: str, n: int, batch: int, timeout: float, work: Path
) -> dict[str, Any]:
    store = SQLStore(f"sqlite:///{work / f'{kind}.db'}")
    settings = load_settings(work)
    src = open_source(url, name, group="bench", consumer="bench", batch=batch)
    t0 = time.perf_counter()
    deadline = t0 + timeout
    try:
        stats = consume(
            src,
            store,
            MemoryOnlineState(),
            settings=settings,
            batch=batch,
            max_events=n,
            should_stop=lambda: time.perf_counter() > deadline,
        )
    finally:
        src.close()
    s = time.perf_counter() - t0
    stored = len(store.read_table("events"))
    store.close()
    return {
        **stats.to_dict(),
        "seconds": round(s, 3),
        "per_s": round(stats.events / s, 1),
        "rows_in_store": stored,
    }


def file_import(bodies: list[bytes], work: Path) -> dict[str, Any]:
    path = work / "events.jsonl"
    path.write_bytes(b"\n".join(bodies) + b"\n")
    store = SQLStore(f"sqlite:///{work / 'import.db'}")
    t0 = time.perf_counter()
    s = import_file(store, "events", path, reject_threshold=1.0)
    sec = time.perf_counter() - t0
    store.close()
    return {
        "accepted": s.accepted,
        "quarantined": s.quarantined,
        "seconds": round(sec, 3),
        "per_s": round(len(bodies) / sec, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--brokers", default="redis,amqp,nats")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per drain at most")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "consume.json"))
    args = ap.parse_args()
    load0 = os.getloadavg()
    bodies = events(args.events)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="crbench-consume-") as tmp:
        work = Path(tmp)
        results["import_jsonl_sqlite"] = file_import(bodies, work)
        print(
            f"{'import (JSON lines file)':28s} {results['import_jsonl_sqlite']['per_s']:>10,.0f}"
            " events/s",
            flush=True,
        )
        for kind in [k.strip() for k in args.brokers.split(",") if k.strip()]:
            url = URLS[kind]
            name, cleanup = publish(kind, url, bodies)
            try:
                b = bare(kind, url, name, args.events, args.batch, args.timeout)
            finally:
                cleanup()
            name, cleanup = publish(kind, url, bodies)
            try:
                f = full(kind, url, name, args.events, args.batch, args.timeout, work)
            finally:
                cleanup()
            results[kind] = {
                "bare": b,
                "consume": f,
                "consume_vs_bare": round(f["per_s"] / b["per_s"], 3),
                "consume_vs_import": round(f["per_s"] / results["import_jsonl_sqlite"]["per_s"], 3),
            }
            print(
                f"{kind:8s} bare {b['per_s']:>10,.0f} msg/s   consume {f['per_s']:>10,.0f} "
                f"events/s  ({f['stored']:,} stored, {f['quarantined']:,} quarantined)  "
                f"consume/bare {results[kind]['consume_vs_bare']:.2f}  "
                f"consume/import {results[kind]['consume_vs_import']:.2f}",
                flush=True,
            )
    out = {
        "benchmark": "consume",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python benchmarks/consume.py " + " ".join(sys.argv[1:]),
        "events": args.events,
        "batch": args.batch,
        "machine": machine(load0),
        "results": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
