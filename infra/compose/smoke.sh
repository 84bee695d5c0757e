#!/usr/bin/env bash
# Runs the compose stack for real and the pipeline through it, the way docs/operations.md tells a
# user to: build, `up`, sample data into S3, unpause, trigger, wait; then checks what the run left
# (S3 outputs, MLflow run/version/alias through the server's REST API with a container's Host
# header, task logs, the Helm chart's probe commands) and tears everything down.
# By hand, as root, on a host with Docker but without Docker Hub (not in CI: it takes ~30 min and
# ~15 GB of disk):
#   apt-get install -y docker.io docker-compose debootstrap && dockerd &
#   bash infra/compose/smoke.sh
# It builds a Debian bookworm base with debootstrap and the stack on it (docker-compose.local.yml:
# Postgres and Redis from Debian's packages, moto's S3 server for MinIO).
#   SMOKE_KEEP=1        leave the stack running (tear down later with the printed command)
#   SMOKE_DATE          logical date to run (default 2020-08-30, the demo sample's last day)
#   SMOKE_TIMEOUT_S     how long the DAG run may take (default 3600)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
BASE_IMAGE="${BASE_IMAGE:-mtstrec-local/debian:bookworm}"
SMOKE_DATE="${SMOKE_DATE:-2020-08-30}"
LOGICAL_DATE="${SMOKE_DATE}T02:00:00+00:00"
SMOKE_TIMEOUT_S="${SMOKE_TIMEOUT_S:-3600}"
PROJECT="mtstrec-smoke"
WORK="$(mktemp -d /tmp/mtstrec-smoke.XXXXXX)"
START=$SECONDS

step() { printf '\n==> %s (%ds)\n' "$1" "$((SECONDS - START))"; }
die() { echo "smoke: $*" >&2; exit 1; }

docker info >/dev/null 2>&1 || die "no Docker daemon: run as root after 'apt-get install docker.io' and start dockerd"
if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose); else COMPOSE=(docker-compose); fi
command -v "${COMPOSE[0]}" >/dev/null || die "no compose: install docker-compose (Debian) or the compose plugin"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
secret() { python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())'; }

ENV_FILE="$WORK/smoke.env"
cat >"$ENV_FILE" <<EOT
BASE_IMAGE=$BASE_IMAGE
POSTGRES_USER=mtstrec
POSTGRES_PASSWORD=$(secret | tr -d '=-_')
MINIO_ROOT_USER=mtstrec-smoke
MINIO_ROOT_PASSWORD=$(secret | tr -d '=-_')
AIRFLOW_FERNET_KEY=$(secret)
AIRFLOW_JWT_SECRET=$(secret)
AIRFLOW_API_SECRET_KEY=$(secret)
AIRFLOW_ADMIN_USERS=admin:admin
AIRFLOW_USE_JOB_SCHEDULE=False
BIND_ADDRESS=127.0.0.1
AIRFLOW_PORT=$(free_port)
MLFLOW_PORT=$(free_port)
MINIO_PORT=$(free_port)
MINIO_CONSOLE_PORT=$(free_port)
EOT
# shellcheck disable=SC1090
source "$ENV_FILE"
compose() { "${COMPOSE[@]}" -p "$PROJECT" --env-file "$ENV_FILE" \
  -f "$HERE/docker-compose.yml" -f "$HERE/docker-compose.local.yml" "$@"; }
in_scheduler() { compose exec -T airflow-scheduler "$@"; }

teardown() {
  local rc=$?
  if [[ "${SMOKE_KEEP:-0}" == 1 ]]; then
    echo "stack left running; tear down: ${COMPOSE[*]} -p $PROJECT --env-file $ENV_FILE -f $HERE/docker-compose.yml -f $HERE/docker-compose.local.yml down -v"
  else
    [[ $rc == 0 ]] || compose logs --no-color --tail 60 >"$WORK/compose-tail.log" 2>&1 || true
    compose down -v --remove-orphans >/dev/null 2>&1 || true
    [[ $rc == 0 ]] || echo "last log lines of every service: $WORK/compose-tail.log" >&2
  fi
  exit $rc
}
trap teardown EXIT

step "base image $BASE_IMAGE"
if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  echo "already there"
else
  command -v debootstrap >/dev/null || die "install debootstrap (apt-get install debootstrap)"
  ROOTFS="$WORK/rootfs"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,libgomp1,tini,curl,procps \
    bookworm "$ROOTFS" http://deb.debian.org/debian
  rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
  tar -C "$ROOTFS" -c . | docker import -c 'ENV LANG=C.UTF-8' -c 'CMD ["bash"]' - "$BASE_IMAGE"
  rm -rf "$ROOTFS"
fi

step "build inputs: CA bundle and local torch wheels"
INPUTS="$REPO/infra/docker/build-inputs"
if [[ -n "${PIP_CERT:-}" && -f "$PIP_CERT" ]]; then
  cp "$PIP_CERT" "$INPUTS/ca-bundle.crt"
  cp "$PIP_CERT" "$HERE/local/ca-bundle.crt"
fi
TORCH_PINS=$(grep -E '^(torch|torchvision)==' "$REPO/constraints.txt" || grep -oE '"(torch|torchvision)==[^"]+"' "$REPO/pyproject.toml" | tr -d '"')
# pip takes these from the machine's own wheel store where there is one (no multi-GB download).
python3 -m pip download -q $TORCH_PINS -d "$INPUTS/wheels"

step "build the images"
T0=$SECONDS
# The pipeline image once (compose would send the multi-GB context once per service), then the local services.
docker build -f "$REPO/infra/Dockerfile" --build-arg BASE_IMAGE="$BASE_IMAGE" -t mtstrec:0.1.0 "$REPO"
compose build postgres redis minio
echo "images built in $((SECONDS - T0)) s"

step "up"
T0=$SECONDS
compose up -d --no-build
for _ in $(seq 1 180); do
  curl -fsS "http://127.0.0.1:$AIRFLOW_PORT/api/v2/monitor/health" >/dev/null 2>&1 && break
  sleep 5
done
curl -fsS "http://127.0.0.1:$AIRFLOW_PORT/api/v2/monitor/health" >/dev/null || die "the Airflow api-server did not answer on port $AIRFLOW_PORT within 15 min"
STARTUP_S=$((SECONDS - T0))
echo "stack up in $STARTUP_S s"
compose ps

step "sample data -> s3://mtstrec/raw/demo"
compose exec -T airflow-worker mtstrec sample-data --preset demo --out s3://mtstrec/raw/demo

step "wait for the DAG to be parsed"
for _ in $(seq 1 60); do
  in_scheduler airflow dags list -o plain 2>/dev/null | grep -q mtstrec_pipeline && break
  sleep 5
done
in_scheduler airflow dags list -o plain | grep -q mtstrec_pipeline || die "mtstrec_pipeline was not parsed within 5 min"

step "unpause, trigger $LOGICAL_DATE (docs/operations.md, compose quick start)"
in_scheduler airflow dags unpause mtstrec_pipeline
in_scheduler airflow dags trigger mtstrec_pipeline --logical-date "$LOGICAL_DATE"
T0=$SECONDS
STATE=queued
while ((SECONDS - T0 < SMOKE_TIMEOUT_S)); do
  STATE=$(in_scheduler airflow dags state mtstrec_pipeline "$LOGICAL_DATE" 2>/dev/null | tail -1 | tr -d '\r')
  [[ "$STATE" == success || "$STATE" == failed ]] && break
  sleep 20
done
RUN_S=$((SECONDS - T0))
echo "DAG run state: $STATE after $RUN_S s"
in_scheduler airflow tasks states-for-dag-run mtstrec_pipeline "$LOGICAL_DATE" -o plain || true

step "task logs under /opt/airflow/logs (uid 50000)"
compose exec -T airflow-worker sh -c 'stat -c "%u:%g %n" /opt/airflow/logs; ls /opt/airflow/logs'

step "outputs on S3"
compose exec -T airflow-worker python - <<'EOT'
import os
import boto3

s3 = boto3.client("s3", endpoint_url=os.environ["MTSTREC_S3_ENDPOINT_URL"])
keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="mtstrec", Prefix="data/demo/")
        for o in page.get("Contents", [])]
for part in ("bronze/", "features/", "sequences/", "runs/"):
    found = [k for k in keys if f"/{part}" in k]
    print(f"{part:12s} {len(found):4d} objects", found[:2])
artifacts = sum(1 for page in s3.get_paginator("list_objects_v2").paginate(Bucket="mlflow")
                for _ in page.get("Contents", []))
print(f"mlflow bucket: {artifacts} artifact objects")
EOT

step "MLflow REST API, Host: mlflow:5000 as another container sends it"
MLFLOW="http://127.0.0.1:$MLFLOW_PORT"
for host in "mlflow:5000" "evil.example:5000"; do
  printf 'Host %-18s -> HTTP %s\n' "$host" \
    "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $host" "$MLFLOW/api/2.0/mlflow/experiments/search?max_results=5")"
done
curl -fsS -H "Host: mlflow:5000" "$MLFLOW/api/2.0/mlflow/registered-models/search" | python3 -c '
import json, sys
for m in json.load(sys.stdin).get("registered_models", []):
    print(m["name"], "latest:", [v["version"] for v in m.get("latest_versions", [])], "aliases:", m.get("aliases"))'

step "the Helm chart's probe commands, run in the compose containers"
for pair in "airflow-scheduler:SchedulerJob" "airflow-dag-processor:DagProcessorJob" "airflow-triggerer:TriggererJob"; do
  svc=${pair%%:*} job=${pair##*:}
  compose exec -T "$svc" sh -c "CONNECTION_CHECK_MAX_COUNT=0 AIRFLOW__LOGGING__LOGGING_LEVEL=ERROR exec /entrypoint \
    airflow jobs check --job-type $job --local" && echo "$svc: probe ok" || echo "$svc: probe FAILED"
done

step "summary"
echo "stack start-up: $STARTUP_S s; DAG run $LOGICAL_DATE: $STATE in $RUN_S s; total $((SECONDS - START)) s"
[[ "$STATE" == success ]] || die "the DAG run ended $STATE"
