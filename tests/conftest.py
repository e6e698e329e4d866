"""Fixtures shared by every test layer: the real broker, topics, databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from services.shared.apache_kafka import ApacheKafka
from services.shared.broker import EmbeddedBroker
from services.shared.topics import Topics, ensure_topics
from tests.support.compose_kafka import ComposeKafka
from tests.support.postgres import fresh_database

BROKERS = ("tansu", "apache-kafka")
"""The two engines: the embedded default, and the one production runs."""


@pytest.fixture(scope="session")
def tansu() -> Iterator[EmbeddedBroker]:
    """One embedded broker (Tansu) for the session, on a free loopback port."""
    with EmbeddedBroker() as running:
        yield running


@pytest.fixture(scope="session")
def apache_kafka() -> Iterator[ApacheKafka]:
    """One Apache Kafka broker (KRaft) for the session, on free loopback ports."""
    with ApacheKafka(tied=True) as running:  # gone with the test process, however it ends
        yield running


SECURED_ADMIN_PASSWORD = "the-administrators-password-0123"


@pytest.fixture(scope="session")
def secured_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeKafka]:
    """Apache Kafka as docker-compose.yml runs it (deploy/kafka/start.sh): SASL/SCRAM
    logins, ACLs, ``admin`` its one super user."""
    folder = tmp_path_factory.mktemp("compose-kafka")
    with ComposeKafka({"KAFKA_ADMIN_PASSWORD": SECURED_ADMIN_PASSWORD}, folder) as running:
        yield running


@pytest.fixture
def broker(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> EmbeddedBroker | ApacheKafka:
    """The test's broker: Tansu, or each in turn in a module marked ``both_brokers``.

    On Apache Kafka the services run with the production settings
    (``CLINIC_ON_TANSU=false``), set in this process's environment for the test's
    length, so every service process a test starts inherits them.
    """
    if getattr(request, "param", "tansu") == "apache-kafka":
        monkeypatch.setenv("CLINIC_ON_TANSU", "false")
        kafka: ApacheKafka = request.getfixturevalue("apache_kafka")
        return kafka
    embedded: EmbeddedBroker = request.getfixturevalue("tansu")
    return embedded


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked ``both_brokers`` runs once on each engine."""
    if metafunc.definition.get_closest_marker("both_brokers") and "broker" in metafunc.fixturenames:
        metafunc.parametrize("broker", BROKERS, indirect=True)


@pytest.fixture
def topics(broker: EmbeddedBroker | ApacheKafka) -> Topics:
    """This test's own set of topics, created with 4 partitions."""
    own = Topics(prefix=f"t{uuid.uuid4().hex[:10]}.")
    ensure_topics(broker.bootstrap, own.all(), partitions=4)
    return own


@pytest.fixture
def group_id() -> str:
    return f"g-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database on the local server, dropped after the session."""
    with fresh_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> str:
    """Each store test runs twice: on the SQLite default and on the real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    url: str = request.getfixturevalue("postgres_url")
    return own_schema(url)


def own_schema(url: str) -> str:
    """A URL whose connections see only a new, empty schema of their own."""
    import psycopg

    schema = f"s_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{url}?options=-csearch_path%3D{schema}"


@pytest.fixture
def postgres_schema_url(postgres_url: str) -> str:
    """The real PostgreSQL only (for what SQLite cannot do), on an empty schema of its own."""
    return own_schema(postgres_url)
