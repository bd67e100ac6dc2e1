"""A simulated order service: answers each pizza order with COOKING, then READY.

It consumes ``pizza_orders`` and produces status messages on ``pizza_status`` with a
``message-id`` header, as a real service would. Run it on its own with
``python -m examples.pizza.order_service --broker 127.0.0.1:9092`` or use
:class:`OrderService` inside a program (the demo does).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

logger = logging.getLogger(__name__)


class OrderService:
    """Consumes orders and replies COOKING then READY for each."""

    def __init__(
        self, bootstrap_servers: str, orders_topic: str, status_topic: str, group: str
    ) -> None:
        self._consumer = AIOKafkaConsumer(
            orders_topic,
            bootstrap_servers=bootstrap_servers,
            group_id=group,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=20,
        )
        self._producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, linger_ms=2)
        self._status_topic = status_topic
        self.orders_seen = 0

    async def run(self) -> None:
        """Serve until cancelled."""
        await self._producer.start()
        await self._consumer.start()
        try:
            while True:
                batches = await self._consumer.getmany(timeout_ms=200)
                for messages in batches.values():
                    for message in messages:
                        await self._answer(message.value)
                await self._consumer.commit()
        finally:
            await self._consumer.stop()
            await self._producer.stop()

    async def _answer(self, raw: bytes) -> None:
        order = json.loads(raw)
        self.orders_seen += 1
        for status in ("COOKING", "READY"):
            await self._producer.send(
                self._status_topic,
                key=order["order_id"].encode(),
                value=json.dumps({"order_id": order["order_id"], "status": status}).encode(),
                headers=[("message-id", f"{order['order_id']}-{status}".encode())],
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", required=True, help="host:port of the Kafka broker")
    parser.add_argument("--orders-topic", default="pizza_orders")
    parser.add_argument("--status-topic", default="pizza_status")
    args = parser.parse_args()
    service = OrderService(args.broker, args.orders_topic, args.status_topic, "pizza-order-service")
    asyncio.run(service.run())


if __name__ == "__main__":
    main()
