"""``campaignrec consume``: behaviour events in from Redis Streams, RabbitMQ or NATS JetStream.

The loop lives in :func:`campaignrec.streams.consumer.consume`; this module parses the options,
opens the source, the store, the online state and the privacy edge, stops on SIGINT / SIGTERM
after the batch in hand, and prints what was done (English and 简体中文). With ``--json`` exactly
one JSON object is printed on stdout; progress goes to stderr.
"""

from __future__ import annotations

import json
import signal
import time
from typing import Annotated, Any

import typer

from campaignrec.cli import context
from campaignrec.errors import ConfigError

#: Seconds between two progress lines on stderr.
PROGRESS_EVERY_S = 10.0


def _target(kind: str, stream: str | None, queue: str | None, subject: str | None) -> str:
    given = {"--stream": stream, "--queue": queue, "--subject": subject}
    named = {k: v for k, v in given.items() if v is not None}
    wanted = {"redis": "--stream", "amqp": "--queue", "nats": "--subject"}[kind]
    if list(named) != [wanted]:
        shown = ", ".join(named) or "none"
        raise ConfigError(
            f"a {kind} URL reads {wanted} NAME (given: {shown}) / {kind} 地址需要 {wanted} NAME",
            hint="redis:// takes --stream, amqp:// --queue, nats:// --subject",
        )
    return str(named[wanted])


def consume_cmd(
    url: Annotated[
        str,
        typer.Option(
            "--from", help="broker URL: redis://host:6379/0, amqp://user:pass@host/%2F, nats://host"
        ),
    ],
    stream: Annotated[str | None, typer.Option("--stream", help="Redis stream key")] = None,
    queue: Annotated[str | None, typer.Option("--queue", help="RabbitMQ queue")] = None,
    subject: Annotated[str | None, typer.Option("--subject", help="NATS JetStream subject")] = None,
    group: Annotated[
        str, typer.Option("--group", help="Redis consumer group / NATS durable consumer")
    ] = "campaignrec",
    consumer: Annotated[
        str | None,
        typer.Option("--consumer", help="this consumer's name in a Redis group (default: host)"),
    ] = None,
    batch: Annotated[
        int, typer.Option("--batch", min=1, help="messages stored and acknowledged together")
    ] = 100,
    max_events: Annotated[
        int | None, typer.Option("--max-events", min=1, help="stop after this many events")
    ] = None,
    idle_exit: Annotated[
        float | None,
        typer.Option("--idle-exit", min=0.0, help="stop after SECONDS without a message"),
    ] = None,
    redeliver_after: Annotated[
        float,
        typer.Option(
            "--redeliver-after",
            min=0.001,
            help="seconds before another consumer's unacknowledged message is taken (Redis "
            "XAUTOCLAIM) or redelivered (NATS ack wait)",
        ),
    ] = 30.0,
    custom_event_type: Annotated[
        list[str] | None,
        typer.Option("--custom-event-type", help="accept this event type too (repeatable)"),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Read behaviour events from a stream into the store and the online state.

    Each message holds one event, a list of events or {"events": [...]} (the body of
    POST /v1/events). Events are validated by the importer's rules; bad ones (and payloads that
    are not JSON) are quarantined under the message they came from. A message is acknowledged
    only after its events are stored, so a crash loses nothing, and the event ids keep a
    redelivered message from being stored twice.
    """
    from campaignrec.data.validation import ValidationOptions
    from campaignrec.privacy.edge import privacy_edge
    from campaignrec.store.online import online_for
    from campaignrec.streams import broker_kind, consume, open_source
    from campaignrec.streams.base import masked

    kind = broker_kind(url)
    name = _target(kind, stream, queue, subject)
    cfg = context.settings()
    store = context.open_store()
    online = online_for(cfg)
    edge = privacy_edge(cfg, store)
    err = context.err_console
    stop = {"asked": False}

    def _ask_stop(signum: int, _frame: Any) -> None:
        if stop["asked"]:  # a second signal: stop now, nothing unacknowledged is lost
            raise KeyboardInterrupt
        stop["asked"] = True
        err.print("stopping after this batch / 处理完本批后停止", highlight=False)

    last = [time.monotonic()]

    def _progress(stats: Any) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S:
            last[0] = now
            err.print(
                f"{stats.events:,} events / 条事件: {stats.stored:,} stored / 已存储, "
                f"{stats.duplicates:,} duplicates / 重复, {stats.quarantined:,} quarantined / "
                "已隔离",
                highlight=False,
            )

    source = open_source(
        url, name, group=group, consumer=consumer, batch=batch, redeliver_after_s=redeliver_after
    )
    # installed once connected: a signal while connecting ends the command as usual
    previous = {s: signal.signal(s, _ask_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    err.print(
        f"consuming {kind} {name!r} at {masked(url)} / 正在消费 (Ctrl-C stops / 停止)",
        highlight=False,
    )
    try:
        stats = consume(
            source,
            store,
            online,
            settings=cfg,
            edge=edge,
            batch=batch,
            max_events=max_events,
            idle_exit_s=idle_exit,
            options=ValidationOptions(custom_event_types=tuple(custom_event_type or ())),
            should_stop=lambda: stop["asked"],
            on_batch=_progress,
        )
    finally:
        source.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    summary = {"broker": kind, "name": name, **stats.to_dict()}
    if json_out:
        typer.echo(json.dumps(summary, ensure_ascii=False))
        return
    reasons = ", ".join(f"{k} {v:,}" for k, v in stats.by_reason.items()) or "-"
    context.console.print(
        f"{kind} {name!r}: {stats.messages:,} messages / 条消息, {stats.events:,} events / 条事件; "
        f"stored / 已存储 {stats.stored:,}, duplicates / 重复 {stats.duplicates:,}, "
        f"quarantined / 已隔离 {stats.quarantined:,} ({reasons}) in {stats.seconds:.1f} s",
        highlight=False,
    )
