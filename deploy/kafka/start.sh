#!/bin/bash
# docker-compose.yml's Kafka: deploy/kafka/server.properties plus the administrator's login.
# On the first start it formats the storage with the administrator's SCRAM credential, the
# one user that can make the others (`clinic-reminders grants`); then it runs the broker.
# KAFKA_ADMIN_PASSWORD: letters, digits, '-' and '_' only (e.g. `openssl rand -hex 32`).
set -euo pipefail
: "${KAFKA_ADMIN_PASSWORD:?set CLINIC_KAFKA_ADMIN_PASSWORD in .env (docs/deploy.md)}"
if [[ ! "$KAFKA_ADMIN_PASSWORD" =~ ^[A-Za-z0-9_-]{16,}$ ]]; then
  echo "refusing to start: CLINIC_KAFKA_ADMIN_PASSWORD must be 16+ letters, digits, '-' or '_'" >&2
  exit 2
fi
home=${KAFKA_HOME:-/opt/kafka}
template=${KAFKA_CONFIG_TEMPLATE:-/opt/clinic/kafka/server.properties}
data=${KAFKA_DATA:-/var/lib/kafka/data}
admin=${KAFKA_ADMIN_CONFIG:-/tmp/admin.properties}
config=$(mktemp "${TMPDIR:-/tmp}/server-XXXXXX.properties")
jaas="org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"$KAFKA_ADMIN_PASSWORD\";"
umask 077
cat "$template" > "$config"
echo "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=$jaas" >> "$config"
# For the healthcheck and an administrator's `docker compose exec kafka ...`.
printf 'security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config=%s\n' "$jaas" > "$admin"
if [[ ! -f "$data/meta.properties" ]]; then
  "$home/bin/kafka-storage.sh" format --config "$config" \
    --cluster-id "$("$home/bin/kafka-storage.sh" random-uuid)" \
    --add-scram "SCRAM-SHA-512=[name=admin,password=$KAFKA_ADMIN_PASSWORD]"
fi
exec "$home/bin/kafka-server-start.sh" "$config"
