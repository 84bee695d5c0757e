-- One Postgres serves two databases: Airflow's metadata (POSTGRES_DB) and MLflow's tracking store.
CREATE DATABASE mlflow;
