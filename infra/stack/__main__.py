"""`python -m infra.stack up|down|status|env`: the real-services stack on this machine (see stack.py).

    python -m infra.stack up [--executor celery] [--workers 2] [--state-dir .stack]
    python -m infra.stack status
    eval "$(python -m infra.stack env)"     # then `airflow dags list`, `mlflow` clients, boto3 reach the stack
    python -m infra.stack down
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from infra.stack.processes import StackError
from infra.stack.stack import REPO, Stack, StackConfig

EXECUTOR_NAMES = {"local": "LocalExecutor", "celery": "CeleryExecutor"}


def summary(stack: Stack) -> str:
    ep = stack.endpoints()
    state = stack.status()
    lines = [f"stack up in {ep.started_s:.0f} s ({ep.executor}), state in {stack.state}", ""]
    where = {
        "postgres": f"postgresql://127.0.0.1:{ep.postgres_port} (databases airflow, mlflow)",
        "moto": f"{ep.s3_endpoint} (S3; buckets mtstrec, mlflow)",
        "redis": f"redis://127.0.0.1:{ep.redis_port}/0 (Celery broker)",
        "mlflow": f"{ep.mlflow_url} (tracking server, artifacts proxied to s3://mlflow/artifacts)",
        "airflow-api-server": f"{ep.airflow_url} (UI, public API /api/v2, execution API /execution/)",
    }
    for name, info in state.items():
        lines.append(f"  {name:<22} {'running' if info['running'] else 'STOPPED':<8} pid {info['pid']!s:<8} "
                     f"{where.get(name, ''):<70} log {info['log']}")
    lines += [
        "",
        f"Airflow UI: {ep.airflow_url}  user admin, password {ep.admin_password}",
        f"MLflow UI:  {ep.mlflow_url}",
        f"Use it from a shell:  eval \"$({sys.executable} -m infra.stack env --state-dir {stack.state})\"",
        f"Stop it:              {sys.executable} -m infra.stack down --state-dir {stack.state}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.stack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "down", "status", "env"])
    parser.add_argument("--state-dir", type=Path, default=REPO / ".stack",
                        help="pid files, logs, data (default .stack)")
    parser.add_argument("--executor", choices=sorted(EXECUTOR_NAMES), default="local")
    parser.add_argument("--workers", type=int, default=1, help="Celery workers (with --executor celery)")
    args = parser.parse_args(argv)
    stack = Stack(StackConfig(args.state_dir, EXECUTOR_NAMES[args.executor], args.workers))
    try:
        if args.command == "up":
            stack.up()
            print(summary(stack))
        elif args.command == "down":
            stopped = stack.down()
            print("stopped: " + (", ".join(stopped) if stopped else "nothing (no pid files)"))
        elif args.command == "status":
            print(summary(stack))
        else:
            env = stack.airflow_env()
            print("\n".join(f"export {key}={shlex.quote(value)}" for key, value in env.items()))
    except StackError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
