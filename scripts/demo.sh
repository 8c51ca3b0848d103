#!/usr/bin/env bash
# Starts the Frappe v15 stack of docker-compose.test.yml and provisions a demo tenant in it.
# Needs a Docker engine. Prints the tool's JSON result on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
export COMPOSE_FILE=docker-compose.test.yml
if ! docker compose version >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
  echo "demo.sh needs a running Docker engine with the compose plugin ('docker compose version' and 'docker info' must work)." >&2
  echo "Without Docker, point the tool at any bench: BENCH_EXECUTOR=local BENCH_PATH=… FRAPPE_URL=… MARIADB_URL=… frappe-tenant provision …" >&2
  exit 1
fi
docker compose up -d >&2
echo "waiting for Frappe on http://localhost:8080 ..." >&2
for _ in $(seq 1 120); do
  code=$(curl -s -o /dev/null -w '%{http_code}' http://localhost:8080/api/method/ping || true)
  [ "$code" != "000" ] && [ "$code" != "502" ] && break
  sleep 5
done
cargo build --release --quiet
sub="demo-$(date +%s)"
printf '{"subdomain":"%s","email":"jane@demo.example.com","fullName":"Jane Doe","password":"Tr1cky-Lantern-42","organizationName":"Demo Co"}' "$sub" \
  | ./target/release/frappe-tenant provision --request -
