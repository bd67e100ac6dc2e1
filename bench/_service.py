"""A simulated order service for the benchmarks: one READY reply per order.

It consumes the order topic and answers each order with ``{"order_id", "status":
"READY"}`` on the ready topic, keyed by the order id and with a ``message-id`` header, as
a real service would. The engine workload and the bare aiokafka limit use the same one.
Run it as a process: ``python -m bench._service --broker HOST:PORT --orders T --ready T``.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from dagger.broker._tansu_compat import apply_if_requested


async def serve(bootstrap_servers: str, orders_topic: str, ready_topic: str, group: str) -> None:
    """Answer orders until cancelled; commits after each batch it answered."""
    consumer = AIOKafkaConsumer(
        orders_topic,
        bootstrap_servers=bootstrap_servers,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=20,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, linger_ms=2)
    await producer.start()
    await consumer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=2000)
            for messages in batches.values():
                for message in messages:
                    order_id = json.loads(message.value)["order_id"]
                    await producer.send(
                        ready_topic,
                        key=order_id.encode(),
                        value=json.dumps({"order_id": order_id, "status": "READY"}).encode(),
                        headers=[("message-id", f"{order_id}-READY".encode())],
                    )
            if batches:
                await producer.flush()
                await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", required=True, help="host:port of the Kafka broker")
    parser.add_argument("--orders", required=True, help="topic the orders arrive on")
    parser.add_argument("--ready", required=True, help="topic the READY replies go to")
    parser.add_argument("--group", default="bench-service")
    arguments = parser.parse_args()
    apply_if_requested()
    asyncio.run(serve(arguments.broker, arguments.orders, arguments.ready, arguments.group))


if __name__ == "__main__":
    main()
