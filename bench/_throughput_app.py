"""The benchmark worker app: ``dagger worker -A bench._throughput_app``.

Names and the store come from the environment so each run gets its own topics, group and
data directory:

- ``BENCH_APP_ID`` (``bench``), ``BENCH_STORE`` (``memory://``), ``BENCH_DATADIR``,
  ``BENCH_PARTITIONS`` (4), ``BENCH_EARLY_MESSAGE_WINDOW`` (300 s, the engine's default),
  ``BENCH_SESSION_TIMEOUT`` (6 s, the engine's default; the heartbeat is a quarter of it,
  at most 1 s);
- ``BENCH_TASKS_TOPIC``, ``BENCH_UPDATES_TOPIC``, ``BENCH_DEAD_LETTER_TOPIC``,
  ``BENCH_ORDERS_TOPIC``, ``BENCH_READY_TOPIC``;
"""

from __future__ import annotations

import os

from bench._workflows import build_templates
from dagger.service.services import Dagger

_session_timeout = float(os.environ.get("BENCH_SESSION_TIMEOUT", "6"))
engine = Dagger(
    application_name=os.environ.get("BENCH_APP_ID", "bench"),
    store=os.environ.get("BENCH_STORE", "memory://"),
    datadir=os.environ.get("BENCH_DATADIR"),
    kafka_partitions=int(os.environ.get("BENCH_PARTITIONS", "4")),
    tasks_topic=os.environ.get("BENCH_TASKS_TOPIC", "bench_tasks"),
    task_update_topic=os.environ.get("BENCH_UPDATES_TOPIC", "bench_updates"),
    dead_letter_topic=os.environ.get("BENCH_DEAD_LETTER_TOPIC", "bench_dead_letters"),
    early_message_window=float(os.environ.get("BENCH_EARLY_MESSAGE_WINDOW", "300")),
    broker_session_timeout=_session_timeout,
    broker_heartbeat_interval=min(1.0, _session_timeout / 4),
)
engine.template_dags.update(
    build_templates(
        engine,
        os.environ.get("BENCH_ORDERS_TOPIC", "bench_orders"),
        os.environ.get("BENCH_READY_TOPIC", "bench_ready"),
    )
)

__all__ = ["engine"]
