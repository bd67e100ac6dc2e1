"""The limit: a bare aiokafka pipeline that moves an order's records with no engine.

input -> command (to the simulated service) -> reply -> a dict lookup -> done. One
consumer reads the input and reply topics; offsets are committed as faust commits the
engine's: every ``COMMIT_INTERVAL`` seconds or ``COMMIT_EVERY`` records, after flushing
the producer, so nothing is committed before what it produced is on the broker.
Run it as a process: ``python -m bench._limit_pipeline --broker HOST:PORT ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from dagger.broker._tansu_compat import apply_if_requested

COMMIT_INTERVAL = 2.8
"""faust's ``broker_commit_interval`` default, which the engine uses."""
COMMIT_EVERY = 10_000
"""faust's ``broker_commit_every`` default."""


async def run(
    bootstrap_servers: str, input_topic: str, orders_topic: str, ready_topic: str, done_topic: str
) -> None:
    """Move records until cancelled."""
    consumer = AIOKafkaConsumer(
        input_topic,
        ready_topic,
        bootstrap_servers=bootstrap_servers,
        group_id="bench-limit",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=50,  # the engine's consumer_fetch_max_wait
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers)
    await producer.start()
    await consumer.start()
    waiting: dict[str, float] = {}
    uncommitted = 0
    committed_at = time.monotonic()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=200)
            for tp, messages in batches.items():
                for message in messages:
                    order_id = json.loads(message.value)["order_id"]
                    if tp.topic == input_topic:
                        waiting[order_id] = time.time()
                        await producer.send(
                            orders_topic,
                            key=order_id.encode(),
                            value=json.dumps({"order_id": order_id}).encode(),
                            headers=[("message-id", f"order-{order_id}".encode())],
                        )
                    elif waiting.pop(order_id, None) is not None:
                        await producer.send(
                            done_topic,
                            key=order_id.encode(),
                            value=json.dumps({"id": order_id, "status": "COMPLETED"}).encode(),
                        )
                uncommitted += len(messages)
            now = time.monotonic()
            if uncommitted and (
                uncommitted >= COMMIT_EVERY or now - committed_at >= COMMIT_INTERVAL
            ):
                await producer.flush()
                await consumer.commit()
                uncommitted, committed_at = 0, now
    finally:
        await consumer.stop()
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", required=True, help="host:port of the Kafka broker")
    for topic in ("input", "orders", "ready", "done"):
        parser.add_argument(f"--{topic}", required=True, help=f"the {topic} topic")
    arguments = parser.parse_args()
    apply_if_requested()
    asyncio.run(
        run(arguments.broker, arguments.input, arguments.orders, arguments.ready, arguments.done)
    )


if __name__ == "__main__":
    main()
