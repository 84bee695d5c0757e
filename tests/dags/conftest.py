"""Airflow reads its settings when first imported: point it at a throwaway home first."""

import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO / "dags"

os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="mtstrec-airflow-")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ.pop("MLFLOW_TRACKING_URI", None)
