"""The compose file's ``kafka`` service without Docker: its own start script and properties.

``deploy/kafka/start.sh`` runs as the container runs it, with the service's
environment, over stand-ins for the image's ``/opt/kafka/bin`` scripts (each
the same tool class on the jars' class path). Only what the container gives is
mapped: its ports, its host name and its data folder become this machine's.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from services.shared.apache_kafka import java, kafka_libs, wait_for_brokers
from services.shared.broker import LocalServer, die_with_parent, free_port, wait_for_port
from services.shared.kafka_access import KafkaAccess
from tests.support.compose import ROOT

TOOLS = {
    "kafka-storage.sh": "kafka.tools.StorageTool",
    "kafka-server-start.sh": "kafka.Kafka",
    "kafka-broker-api-versions.sh": "org.apache.kafka.tools.BrokerApiVersionsCommand",
}
"""The image's scripts the compose file uses, and the class each one runs."""


class ComposeKafka(LocalServer):
    """Starts deploy/kafka/start.sh with ``environment`` (the compose service's) in ``folder``."""

    def __init__(self, environment: dict[str, str], folder: Path) -> None:
        self.environment = environment
        self.folder = folder
        self.port = free_port()
        self.controller_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def admin_password(self) -> str:
        return self.environment["KAFKA_ADMIN_PASSWORD"]

    @property
    def access(self) -> KafkaAccess:
        """Logged in as the administrator, Kafka's one super user."""
        return KafkaAccess(self.bootstrap).as_user("admin", self.admin_password)

    def start(self, timeout: float = 90.0) -> ComposeKafka:
        home = self._tools()
        env = {
            **self.environment,
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "KAFKA_HOME": str(home),
            "KAFKA_CONFIG_TEMPLATE": str(self._properties()),
            "KAFKA_DATA": str(self.folder / "data"),
            "KAFKA_ADMIN_CONFIG": str(self.folder / "admin.properties"),
            "TMPDIR": str(self.folder),
        }
        with open(self.folder / "kafka.out", "ab") as log:
            self.process = subprocess.Popen(
                ["bash", str(ROOT / "deploy" / "kafka" / "start.sh")],
                env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=die_with_parent,
            )  # fmt: skip
        try:
            wait_for_port("127.0.0.1", self.port, timeout)
            wait_for_brokers(self.access, 1, timeout)  # the administrator logs in, too
        except TimeoutError:
            self.stop()
            raise
        return self

    def healthcheck(self, shell: str) -> list[str]:
        """The compose file's ``CMD-SHELL`` check, pointed at this machine's paths and port."""
        mapped = (
            shell.replace("/opt/kafka", str(self.folder / "opt-kafka"))
            .replace("localhost:9092", self.bootstrap)
            .replace("/tmp/admin.properties", str(self.folder / "admin.properties"))
        )
        return ["bash", "-c", mapped]

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def tail(self) -> str:
        return (self.folder / "kafka.out").read_text(errors="replace")[-3000:]

    def _tools(self) -> Path:
        home = self.folder / "opt-kafka"
        (home / "bin").mkdir(parents=True, exist_ok=True)
        for script, tool in TOOLS.items():
            path = home / "bin" / script
            run = f'exec "{java()}" -Xms128m -Xmx512m -cp "{kafka_libs()}/*" {tool} "$@"'
            path.write_text(f"#!/bin/bash\n{run}\n")
            path.chmod(0o755)
        return home

    def _properties(self) -> Path:
        text = (ROOT / "deploy" / "kafka" / "server.properties").read_text()
        mapped = (
            text.replace("SASL_PLAINTEXT://:9092", f"SASL_PLAINTEXT://127.0.0.1:{self.port}")
            .replace("kafka:9092", self.bootstrap)
            .replace("127.0.0.1:9093", f"127.0.0.1:{self.controller_port}")
            .replace("/var/lib/kafka/data", str(self.folder / "data"))
        )
        path = self.folder / "server.properties"
        path.write_text(mapped + "group.initial.rebalance.delay.ms=0\n")
        return path
