# The two commands: `make run` (the whole platform on the embedded default)
# and `make test` (lint, types and the whole test suite). Both install first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser postgres kafka-jars kafka run test lint typecheck unit integration e2e clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The ops console's tests drive Debian's Chromium headless.
browser:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

# The tests' PostgreSQL: the project's own server on 127.0.0.1:55432, installed from
# Debian's packages if missing and started if down (deploy/local/postgres.sh).
postgres:
	bash deploy/local/postgres.sh start

# Apache Kafka's broker and its runtime dependencies from Maven Central, copied once into
# .cache/ (Maven keeps its own copy in ~/.m2): the tests, the bench and `make kafka` run it.
KAFKA_VERSION := $(shell sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' deploy/kafka/pom.xml)
KAFKA_LIBS := .cache/kafka-$(KAFKA_VERSION)/libs
KAFKA_JAR := $(KAFKA_LIBS)/kafka_2.13-$(KAFKA_VERSION).jar

kafka-jars: $(KAFKA_JAR)

$(KAFKA_JAR): deploy/kafka/pom.xml
	rm -rf $(KAFKA_LIBS).partial
	mvn -q -B -Dstyle.color=never -f deploy/kafka/pom.xml dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory=$(CURDIR)/$(KAFKA_LIBS).partial
	rm -rf $(KAFKA_LIBS) && mv $(KAFKA_LIBS).partial $(KAFKA_LIBS)

# One Apache Kafka broker on 127.0.0.1:9092 that keeps its data in var/kafka (README).
kafka: install kafka-jars
	$(BIN)/clinic-reminders kafka

run: install
	$(BIN)/clinic-reminders run

lint: install
	$(BIN)/ruff check services tests bench
	$(BIN)/ruff format --check services tests bench

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q tests/unit

integration: install
	$(BIN)/pytest -q tests/integration

e2e: install
	$(BIN)/pytest -q tests/e2e

# Unit, integration and most end-to-end tests in two processes (pytest-xdist): most
# wait on brokers and processes, not the CPU; each process starts its own broker, and
# every test has its own topics, database schema and ports. The end-to-end tests
# marked `alone` run after them, one at a time: they time
# whole platforms against a sped-up clock to the second, and one beside another
# test's load was seen seconds late.
# The fault runs go first, so that the two longest tests (a minute and more each)
# overlap the many short ones instead of running alone at the end; the end-to-end
# ones last, so that no whole platform runs beside a fault run. Worksteal moves
# queued tests to whichever process is free.
# Each run names its slowest tests, so that the 15 minutes the command may take stay in view.
test: lint typecheck browser postgres kafka-jars
	$(BIN)/pytest -q -n 2 --dist worksteal --durations=12 -m "not chaos and not alone" \
		tests/faults tests/integration tests/unit tests/e2e
	$(BIN)/pytest -q --durations=6 -m alone tests/e2e

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache

# Benchmarks (bench/, results in docs/benchmarks.md): quick is under two minutes.
.PHONY: bench bench-quick

bench: install postgres kafka-jars
	$(BIN)/python -m bench full

bench-quick: install postgres kafka-jars
	$(BIN)/python -m bench quick

# Fault tests (tests/faults/, docs/faults.md): the long run. FAULT_SEED replays one.
.PHONY: chaos

chaos: install postgres kafka-jars
	FAULT_BOOKINGS=$${FAULT_BOOKINGS:-120} FAULT_HOURS=$${FAULT_HOURS:-120} \
	FAULT_WORKER_KILLS=$${FAULT_WORKER_KILLS:-3} FAULT_NOTIFIER_KILLS=$${FAULT_NOTIFIER_KILLS:-3} \
	FAULT_TWILIO_BURSTS=$${FAULT_TWILIO_BURSTS:-12} FAULT_SMTP_OUTAGES=$${FAULT_SMTP_OUTAGES:-3} \
	FAULT_TWILIO_OUTAGES=$${FAULT_TWILIO_OUTAGES:-2} \
	$(BIN)/pytest -q -s -m chaos -o timeout=1800 tests/faults
