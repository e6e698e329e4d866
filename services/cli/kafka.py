"""``clinic-reminders kafka``: Apache Kafka in the foreground, keeping its data across restarts.

For running the platform on the production engine on one machine with Java 17:
this in one terminal, then ``CLINIC_BOOTSTRAP_SERVERS=127.0.0.1:9092
CLINIC_ON_TANSU=false make run`` in another. Ctrl-C stops the broker cleanly;
its topics, offsets and changelogs stay in ``{var_dir}/kafka``.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from typing import Any

from services.shared.apache_kafka import ApacheKafka, kafka_version
from services.shared.settings import PlatformSettings, load_settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "kafka", help="run Apache Kafka (KRaft, one node) that keeps its data in var/kafka"
    )
    parser.add_argument("--port", type=int, default=9092, help="its client port on 127.0.0.1")
    parser.add_argument("--data-dir", type=Path, help="default: {CLINIC_VAR_DIR}/kafka")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(PlatformSettings)
    data_dir = args.data_dir or settings.var_dir / "kafka"
    broker = ApacheKafka(
        data_dir=data_dir.resolve(), port=args.port, partitions=settings.partitions, tied=True
    )
    if broker.nodes[0].port != args.port:
        print(f"[kafka] {data_dir} was made for port {broker.nodes[0].port}: using it", flush=True)
    try:
        broker.start()
    except (RuntimeError, TimeoutError) as exc:
        print(f"[kafka] {exc} (its log: {data_dir}/node-1/server.out)", flush=True)
        return 1
    print(
        f"[kafka] Apache Kafka {kafka_version()} on {broker.bootstrap}, data in {data_dir}; "
        "Ctrl-C stops it",
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(1.0):
        if not broker.nodes[0].running:
            print(f"[kafka] the broker stopped on its own: see {data_dir}/node-1/server.out")
            return 1
    broker.stop()
    print("[kafka] stopped", flush=True)
    return 0
