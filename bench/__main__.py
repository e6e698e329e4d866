"""``python -m bench quick|full``: one line per figure, and a JSON record under var/bench/."""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg

from bench import (
    notifier_figure,
    plan,
    rebuild_figure,
    timing,
    twilio_figure,
    worker_figures,
)
from bench.machine import describe
from bench.result import Figure
from bench.stack import Stack
from services.shared.apache_kafka import ApacheKafka
from services.shared.broker import EmbeddedBroker
from tests.support.postgres import ADMIN_URL, fresh_database


@dataclass(frozen=True)
class Sizes:
    plans: int
    events: int
    pending: list[int]
    due: int
    window: float
    notified: int
    texted: int


MODES = {
    "quick": Sizes(
        plans=2000,
        events=5000,
        pending=[20_000, 200_000],
        due=600,
        window=8,
        notified=2000,
        texted=2000,
    ),
    "full": Sizes(
        plans=20_000,
        events=10_000,
        pending=[1_000_000, 10_000_000],
        due=100_000,
        window=180,
        notified=10_000,
        texted=10_000,
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--var-dir", type=Path, default=Path("var/bench"))
    args = parser.parse_args()
    sizes = MODES[args.mode]
    run_dir = args.var_dir / f"{args.mode}-{int(time.time())}"
    run_dir.mkdir(parents=True)
    machine = describe()
    print(" | ".join(f"{k}: {v}" for k, v in machine.items()), flush=True)
    began = time.monotonic()
    figures = _run(sizes, run_dir)
    took = time.monotonic() - began
    print(f"{args.mode} run took {took:.0f} s; record in {run_dir / 'results.json'}")
    record = {"mode": args.mode, "seconds": took, "machine": machine}
    record["figures"] = [f.as_dict() for f in figures]
    (run_dir / "results.json").write_text(json.dumps(record, indent=2, default=str))


def _run(sizes: Sizes, run_dir: Path) -> list[Figure]:
    figures: list[Figure] = []

    def show(figure: Figure) -> None:
        figures.append(figure)
        print(figure.line(), flush=True)

    show(plan.run(sizes.plans))
    with EmbeddedBroker(log_path=run_dir / "broker.log") as broker:
        for figure in worker_figures.run(broker.bootstrap, run_dir, sizes.events, sizes.pending):
            show(figure)
        throughput = next(f for f in figures if f.name == "throughput")
        show(rebuild_figure.run(broker.bootstrap, run_dir, sizes.events, throughput))
        # The timing load is of attended bookings, as is the memory load: book at its pace.
        rate = float(next(f for f in figures if f.name.startswith("memory")).extra["load_rate"])
        for figure in timing.run(broker.bootstrap, run_dir, sizes.due, sizes.window, rate):
            show(figure)
        on_sqlite = notifier_figure.run(broker.bootstrap, run_dir, sizes.notified)
        show(on_sqlite)
        try:
            with fresh_database("clinic_bench") as url, fresh_database("clinic_floor") as floor:
                on_postgresql = notifier_figure.run(
                    broker.bootstrap, run_dir, sizes.notified, url, floor
                )
            show(on_postgresql)
            show(notifier_figure.postgresql_share(on_sqlite, on_postgresql))
        except psycopg.OperationalError as exc:  # no PostgreSQL here: said, not measured
            print(f"end-to-end-postgresql not measured: no PostgreSQL at {ADMIN_URL} ({exc})")
        show(twilio_figure.run(broker.bootstrap, run_dir, sizes.texted))
    for figure in _on_apache_kafka(sizes, run_dir):
        show(figure)
    return figures


def _on_apache_kafka(sizes: Sizes, run_dir: Path) -> Iterator[Figure]:
    """The worker's throughput and recovery and the end-to-end figure again, on one Apache
    Kafka node with the production settings (``CLINIC_ON_TANSU=false``, normal batching)."""
    before = os.environ.get("CLINIC_ON_TANSU")
    os.environ["CLINIC_ON_TANSU"] = "false"  # the workers the stack starts inherit it
    try:
        with ApacheKafka(data_dir=run_dir / "apache-kafka", tied=True) as kafka:
            stack = Stack(kafka.bootstrap, "worker-kafka", run_dir)
            try:
                yield _on_kafka(worker_figures.throughput(stack, sizes.events, run_dir))
                held = sizes.events * worker_figures.TREATMENT_PENDING
                yield _on_kafka(worker_figures.recovery(stack, held, run_dir))
            finally:
                stack.close()
            yield _on_kafka(notifier_figure.run(kafka.bootstrap, kafka.data_dir, sizes.notified))
    finally:
        if before is None:
            os.environ.pop("CLINIC_ON_TANSU", None)
        else:
            os.environ["CLINIC_ON_TANSU"] = before


def _on_kafka(figure: Figure) -> Figure:
    return replace(figure, name=f"{figure.name}-kafka")


if __name__ == "__main__":
    main()
