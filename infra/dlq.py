"""The dead-letter queue: see what failed and why, and replay it once the cause is fixed.

    python -m infra.dlq list            # each parked message: consumer, error, routing key
    python -m infra.dlq replay [--all]  # publish back to its exchange; consumers are idempotent

Uses ``AMQP_URI``. Replaying sends the event to every subscriber again; those that handled it
already ignore it (their inbox has its id).
"""
from __future__ import annotations

import argparse
import sys

from kombu import Connection, Exchange, Producer

from services.common import config
from services.common.messaging import DEAD_LETTER_QUEUE, dead_letter_queue


def _drain(conn):
    queue = dead_letter_queue()(conn.default_channel)
    queue.declare()
    while True:
        message = queue.get(no_ack=False)
        if message is None:
            return
        yield message


def list_messages(uri: str) -> list[dict]:
    with Connection(uri) as conn:
        out = []
        for message in _drain(conn):
            h = message.headers or {}
            out.append({"consumer": h.get("x-envgrid-consumer"),
                        "error": h.get("x-envgrid-error"),
                        "exchange": h.get("x-envgrid-exchange"),
                        "routing_key": h.get("x-envgrid-routing-key"),
                        "failed_at": h.get("x-envgrid-failed-at")})
        # Not acknowledged: closing the connection puts every message back.
        return out


def replay(uri: str, limit: int | None = None) -> int:
    count = 0
    with Connection(uri, transport_options={"confirm_publish": True}) as conn:
        producer = Producer(conn.channel())
        for message in _drain(conn):
            h = message.headers or {}
            exchange = Exchange(h["x-envgrid-exchange"], type="topic", durable=True,
                                no_declare=True)
            producer.publish(message.body, exchange=exchange, delivery_mode=2,
                             routing_key=h["x-envgrid-routing-key"],
                             content_type=message.content_type,
                             content_encoding=message.content_encoding)
            message.ack()
            count += 1
            if limit is not None and count >= limit:
                break
    return count


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["list", "replay"])
    parser.add_argument("--limit", type=int)
    opts = parser.parse_args(argv)
    uri = config.amqp_uri()
    if opts.command == "list":
        rows = list_messages(uri)
        for row in rows:
            print(f"{row['failed_at']}  {row['consumer']}  {row['routing_key']}  {row['error']}")
        print(f"{len(rows)} message(s) in {DEAD_LETTER_QUEUE}")
    else:
        print(f"replayed {replay(uri, opts.limit)} message(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
