#!/usr/bin/env bash
# Install everything Attune needs on a fresh Debian machine, idempotently:
#   system packages (PostgreSQL, Chromium, Prometheus's promtool) when missing, a virtualenv with the project, the Kafka jars and
#   Keycloak (both from Maven Central).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
[ -x /usr/bin/chromium ] || need+=(chromium)
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need+=(postgresql)
command -v promtool >/dev/null || need+=(prometheus)  # promtool checks the alert rules (deploy/monitoring)
if [ ${#need[@]} -gt 0 ]; then
  echo "==> installing system packages: ${need[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.attune-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "==> installing Python packages"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
  touch "$stamp"
fi

if ! ls deploy/kafka/lib/kafka_2.13-*.jar >/dev/null 2>&1; then
  echo "==> fetching the Kafka broker jars with Maven"
  .venv/bin/python -m deploy.kafka.broker fetch
fi

if ! ls deploy/keycloak/dist/keycloak-*/bin/kc.sh >/dev/null 2>&1; then
  echo "==> fetching Keycloak (the embedded identity provider) with Maven"
  .venv/bin/python -m deploy.keycloak.server fetch
fi
