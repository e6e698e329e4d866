"""Apache Kafka from its own published jars: one broker, or a KRaft cluster on loopback.

The production engine, for the tests, the bench and ``clinic-reminders kafka``:
the broker and its runtime dependencies come from Maven Central through
``deploy/kafka/pom.xml`` (``make kafka-jars``), storage is formatted with
``kafka.tools.StorageTool`` and each node runs ``kafka.Kafka`` with Java 17 or
later. Unlike the embedded broker it keeps its data in a directory of its own,
so a restart on the same directory finds its topics, offsets and changelogs.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from services.shared.broker import LocalServer, die_with_parent, free_port, wait_for_port
from services.shared.kafka_access import KafkaAccess, access_of

_CHECKOUT = Path(__file__).resolve().parents[2]
POM = _CHECKOUT / "deploy" / "kafka" / "pom.xml"
HEAP = "-Xms128m -Xmx512m"


def kafka_version() -> str:
    """The pinned release, as deploy/kafka/pom.xml names it (its one place)."""
    found = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text())
    if found is None:
        raise RuntimeError(f"{POM} names no <kafka.version>")
    return found.group(1)


def kafka_libs() -> Path:
    """The folder of the broker's jars, which ``make kafka-jars`` copies from Maven Central.

    ``CLINIC_KAFKA_LIBS`` names another folder. ``RuntimeError`` saying what to run
    when the jars are not there.
    """
    version = kafka_version()
    named = os.environ.get("CLINIC_KAFKA_LIBS")
    libs = Path(named) if named else _CHECKOUT / ".cache" / f"kafka-{version}" / "libs"
    if not (libs / f"kafka_2.13-{version}.jar").exists():
        raise RuntimeError(f"Apache Kafka {version}'s jars are not in {libs}: `make kafka-jars`")
    return libs


def java() -> str:
    """The ``java`` of ``JAVA_HOME``, else the one on the PATH."""
    home = os.environ.get("JAVA_HOME")
    found = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not found:
        raise RuntimeError("Apache Kafka needs Java 17 or later: no java found")
    return found


def cluster_id() -> str:
    """A new KRaft cluster id: 16 random bytes, URL-safe base64, as StorageTool makes them.

    Never one that starts with "-", which the tools read as an option (Kafka's own
    ``Uuid.randomUuid`` draws again for the same reason).
    """
    while True:
        made = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not made.startswith("-"):
            return made


@dataclass
class KafkaNode:
    """One broker-and-controller process of a cluster; ports fixed for its whole life."""

    node_id: int
    data_dir: Path
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def formatted(self) -> bool:
        return (self.data_dir / "log" / "meta.properties").exists()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        """Sends ``signum`` and waits for the process to end (SIGKILL: no clean shutdown)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


class ApacheKafka(LocalServer):
    """Starts and stops Apache Kafka in KRaft mode: ``size`` combined broker-controllers.

    With one node it stands in for the compose file's broker; with three it is a
    cluster with replication factor 3 and ``min.insync.replicas=2``. ``data_dir``
    keeps the data across starts (a fresh temporary folder, removed at stop, if
    not given); ``port`` fixes the first node's client port (free ports otherwise);
    ``tied``: each node dies with the thread that started it, even if this process
    is killed outright (as the launcher's embedded broker does).
    """

    def __init__(
        self,
        size: int = 1,
        data_dir: Path | None = None,
        port: int | None = None,
        partitions: int = 4,
        tied: bool = False,
    ) -> None:
        self._owned = data_dir is None
        self.data_dir = data_dir or Path(_temporary_dir())
        self.partitions = partitions
        self._tied = tied
        self.nodes = [
            KafkaNode(node_id, self.data_dir / f"node-{node_id}") for node_id in range(1, size + 1)
        ]
        if port is not None:
            self.nodes[0].port = port
        self._restore_ports()

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    def node(self, node_id: int) -> KafkaNode:
        return self.nodes[node_id - 1]

    def start(self, timeout: float = 90.0) -> ApacheKafka:
        """Formats what is new, starts every node, and waits until all brokers are registered."""
        libs = kafka_libs()
        self._write_configs()
        ident = self._cluster_id()
        for node in self.nodes:
            if not node.formatted:
                self._format(libs, node, ident)
        for node in self.nodes:
            self._launch(libs, node)
        try:
            for node in self.nodes:
                wait_for_port("127.0.0.1", node.port, timeout)
            self.wait_for_brokers(len(self.nodes), timeout)
        except Exception:
            self.stop()
            raise
        return self

    def start_node(self, node_id: int, timeout: float | None = 90.0) -> None:
        """Starts one stopped node again on its own ports and data; waits for its port
        unless ``timeout`` is None."""
        node = self.node(node_id)
        self._launch(kafka_libs(), node)
        if timeout is not None:
            wait_for_port("127.0.0.1", node.port, timeout)

    def kill_node(self, node_id: int) -> None:
        """SIGKILL: the node dies at once, with no controlled shutdown."""
        self.node(node_id).signal(signal.SIGKILL)

    def kill(self) -> None:
        """SIGKILL of every node: what a power cut leaves on disk."""
        for node in self.nodes:
            node.signal(signal.SIGKILL)

    def stop(self) -> None:
        for node in self.nodes:
            node.signal(signal.SIGTERM)
        if self._owned:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def wait_for_brokers(self, count: int, timeout: float = 90.0) -> None:
        """Blocks until ``count`` brokers are registered with the quorum."""
        wait_for_brokers(self.bootstrap, count, timeout)

    def leaders(self, topics: list[str]) -> Counter[int]:
        """How many partitions of ``topics`` each node leads now."""
        from kafka.admin import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=10000)
        try:
            described = admin.describe_topics(topics)
        finally:
            admin.close()
        return Counter(
            int(p["leader_id"]) for t in described for p in t["partitions"] if p["leader_id"] >= 0
        )

    def replicas(self) -> dict[str, int]:
        """Each topic's replicas (the fewest of any of its partitions), Kafka's own aside."""
        from kafka.admin import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=10000)
        try:
            names = [t for t in admin.list_topics() if not t.startswith("__")]
            described = admin.describe_topics(names)
        finally:
            admin.close()
        return {t["name"]: min(len(p["replica_nodes"]) for p in t["partitions"]) for t in described}

    def active_controller(self) -> int:
        """The node id of the KRaft quorum's leader, as ``kafka-metadata-quorum`` reports it."""
        shown = subprocess.run(
            [java(), "-Xmx128m", "-XX:TieredStopAtLevel=1", "-cp", f"{kafka_libs()}/*",
             "org.apache.kafka.tools.MetadataQuorumCommand",
             "--bootstrap-server", self.bootstrap, "describe", "--status"],
            check=True, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        found = re.search(r"^LeaderId:\s+(\d+)", shown.stdout, re.MULTILINE)
        if found is None:
            raise RuntimeError(f"no LeaderId in the quorum's status: {shown.stdout!r}")
        return int(found.group(1))

    def _restore_ports(self) -> None:
        """On a kept data folder, the ports of the last start: clients and peers know them."""
        for node in self.nodes:
            if node.config_path.exists():
                listeners = _read_properties(node.config_path)["listeners"].split(",")
                node.port, node.controller_port = (int(u.rsplit(":", 1)[1]) for u in listeners)

    def _cluster_id(self) -> str:
        path = self.data_dir / "cluster.id"
        if not path.exists():
            path.write_text(cluster_id())
        return path.read_text().strip()

    def _write_configs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        for node in self.nodes:
            node.data_dir.mkdir(parents=True, exist_ok=True)
            node.config_path.write_text(_server_properties(node, voters, self))
            (node.data_dir / "log4j2.properties").write_text(_LOG4J)

    def _format(self, libs: Path, node: KafkaNode, ident: str) -> None:
        done = subprocess.run(
            [java(), "-cp", f"{libs}/*", "kafka.tools.StorageTool", "format",
             "--cluster-id", ident, "--config", str(node.config_path), "--ignore-formatted"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"StorageTool could not format {node.data_dir}: {done.stderr}")

    def _launch(self, libs: Path, node: KafkaNode) -> None:
        log = open(node.data_dir / "server.out", "ab")  # noqa: SIM115
        node.process = subprocess.Popen(
            [java(), *HEAP.split(), "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
             "-Djava.awt.headless=true",
             f"-Dlog4j2.configurationFile={node.data_dir / 'log4j2.properties'}",
             "-cp", f"{libs}/*", "kafka.Kafka", str(node.config_path)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=die_with_parent if self._tied else None,
        )  # fmt: skip
        log.close()


def _server_properties(node: KafkaNode, voters: str, cluster: ApacheKafka) -> str:
    replicas = min(3, len(cluster.nodes))
    settings = {
        "process.roles": "broker,controller",
        "node.id": node.node_id,
        "listeners": f"PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.quorum.voters": voters,
        "log.dirs": node.data_dir / "log",
        # As in production (docker-compose.yml): every topic is created on purpose.
        "auto.create.topics.enable": "false",
        "num.partitions": cluster.partitions,
        "default.replication.factor": replicas,
        "min.insync.replicas": 2 if replicas >= 3 else 1,
        "offsets.topic.replication.factor": replicas,
        "offsets.topic.num.partitions": 8,
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": 2 if replicas >= 3 else 1,
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": 2 if replicas >= 3 else 1,
        # Tests join groups all the time: no wait for more members to come.
        "group.initial.rebalance.delay.ms": 0,
        # Kafka's floor is 6 s; the tests kill members and want their partitions moved sooner.
        "group.min.session.timeout.ms": 1000,
        "log.flush.interval.ms": 1000,
        # A dead node is fenced, and dropped from its partitions' in-sync replicas, in
        # seconds rather than Kafka's 9 s and 30 s: the tests run the clock at up to an
        # hour a second, where each real second of failover is an hour of reminders.
        "broker.session.timeout.ms": 3000,
        "broker.heartbeat.interval.ms": 500,
        "replica.lag.time.max.ms": 4000,
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def wait_for_brokers(kafka: KafkaAccess | str, count: int, timeout: float = 90.0) -> None:
    """Blocks until ``count`` brokers are registered with the quorum; ``TimeoutError`` if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(registered_brokers(kafka)) >= count:
            return
        time.sleep(0.2)
    raise TimeoutError(f"Apache Kafka: fewer than {count} brokers within {timeout:.0f}s")


def registered_brokers(kafka: KafkaAccess | str) -> list[int]:
    """The ids of the brokers the cluster reports; empty while it cannot answer."""
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(
            **access_of(kafka).client_options(), request_timeout_ms=3000, bootstrap_timeout_ms=3000
        )
    except (KafkaError, OSError):
        return []
    try:
        return sorted(int(b["broker_id"]) for b in admin.describe_cluster()["brokers"])
    except (KafkaError, OSError):
        return []
    finally:
        admin.close()


def _read_properties(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def _temporary_dir() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="apache-kafka-")


_LOG4J = """\
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""
