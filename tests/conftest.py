"""Fixtures shared by every test layer: the real broker, topics, databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from services.shared.broker import EmbeddedBroker
from services.shared.topics import Topics, ensure_topics
from tests.support.postgres import fresh_database


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """One real Kafka-protocol broker (Tansu) for the session, on a free loopback port."""
    with EmbeddedBroker() as running:
        yield running


@pytest.fixture
def topics(broker: EmbeddedBroker) -> Topics:
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
