#!/usr/bin/env bash
# The quick start: generate the `demo` sample and run the whole Airflow DAG end to end on this
# machine with `airflow dags test` (SQLite metadata, local files, local MLflow), then show the
# report and where everything is. Run it through `make demo` (which puts the venv on PATH).
#   DEMO_DATE   logical date to run (default 2020-08-30, the sample's last day)
#   DEMO_CONFIG pipeline config (default configs/demo.toml)
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"
START=$SECONDS
DEMO_DATE="${DEMO_DATE:-2020-08-30}"
DEMO_CONFIG="${DEMO_CONFIG:-configs/demo.toml}"
DATA="$REPO/data"
RAW="$DATA/raw/demo"

export AIRFLOW_HOME="$REPO/airflow_home"
export AIRFLOW__CORE__DAGS_FOLDER="$REPO/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export MTSTREC_ROOT="$DATA" MTSTREC_DATASET=demo MTSTREC_CONFIG="$DEMO_CONFIG"
mkdir -p "$AIRFLOW_HOME"
LOG="$AIRFLOW_HOME/demo-dags-test.log"

step() { printf '\n==> %s (%ds)\n' "$1" "$((SECONDS - START))"; }

step "demo sample data -> $RAW"
if [[ -f "$RAW/articles.csv" && -f "$RAW/transactions_train.csv" ]]; then
  echo "already there (delete $RAW to regenerate)"
else
  mtstrec sample-data --preset demo --out "$RAW"
fi

step "Airflow metadata DB (SQLite) in $AIRFLOW_HOME"
airflow db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || { tail -20 "$AIRFLOW_HOME/db-migrate.log"; exit 1; }
airflow pools set gpu 1 "feature extraction and training (one accelerator)" >/dev/null

step "airflow dags test mtstrec_pipeline $DEMO_DATE (log: $LOG)"
CONF=$(printf '{"root": "%s", "dataset": "demo", "raw": "%s", "layout": "hm", "config": "%s"}' \
  "$DATA" "$RAW" "$DEMO_CONFIG")
if ! airflow dags test mtstrec_pipeline "$DEMO_DATE" -c "$CONF" >"$LOG" 2>&1; then
  grep -E "ERROR|Error|error" "$LOG" | tail -20
  echo "the DAG run failed; full log: $LOG" >&2
  exit 1
fi
grep -oE "\[DAG TEST\] end task task_id=[a-z_]+( map_index=[0-9-]+)?" "$LOG" | sed 's/\[DAG TEST\] end task /  done: /'

step "report"
RUN_DIR=$(grep -oE "'run_dir': '[^']+'" "$LOG" | tail -1 | cut -d"'" -f4)
REPORT="$RUN_DIR/report/report.md"
cat "$REPORT"
echo
grep -oE "mtstrec v[0-9]+: (promoted|kept champion) \([^)]*\)" "$LOG" | tail -1 || true

ELAPSED=$((SECONDS - START))
cat <<EOT

==> done in $((ELAPSED / 60)) min $((ELAPSED % 60)) s

Outputs
  raw sample        $RAW
  bronze, features, sequences, candidates, quarantine
                    $DATA/demo/
  training run      $RUN_DIR  (model.pt, history.json, report/)
  MLflow            sqlite:///$DATA/mlflow.db, artifacts in $DATA/mlartifacts
  Airflow           $AIRFLOW_HOME (SQLite metadata, DAG test log: $LOG)

MLflow UI (runs, metrics, report artifacts, registered model 'mtstrec' with alias 'champion'):
  mlflow ui --backend-store-uri sqlite:///$DATA/mlflow.db --host 127.0.0.1 --port 5000
  then open http://127.0.0.1:5000

Airflow UI (the DAG, its runs and task logs):
  AIRFLOW_HOME=$AIRFLOW_HOME AIRFLOW__CORE__DAGS_FOLDER=$REPO/dags AIRFLOW__CORE__LOAD_EXAMPLES=False \\
    MTSTREC_ROOT=$DATA airflow standalone
  then open http://127.0.0.1:8080 (user admin; password in $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated)

Recommend from the champion in Python:
  import mlflow, pandas as pd
  mlflow.set_tracking_uri("sqlite:///$DATA/mlflow.db")
  model = mlflow.pyfunc.load_model("models:/mtstrec@champion")
  model.predict(pd.DataFrame({"history": [["<article_id>", "<article_id>"]]}), params={"k": 10})
EOT
