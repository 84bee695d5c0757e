"""The DAG runs the stack tests trigger: the tiny sample on S3, a small config, helpers to wait and compare."""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Callable

import pyarrow as pa
import pyarrow.parquet as pq
import torch

from tests.infra.stack_clients import s3_keys, s3_objects

DAG = "mtstrec_pipeline"
DAY = "2020-08-30"  # the tiny sample's last day
LOGICAL_DATE = f"{DAY}T02:00:00+00:00"
RAW_PREFIX = "raw/sample/"
# fp32 pinned: `train.precision=auto` on the CPU picks fp32 or bf16 by timing a probe step in each process, and
# on a loaded machine a resumed or concurrent run could pick differently from the run it is compared with.
TINY = ["model.d_model=16", "train.baselines=false", "train.negatives=20", "eval.sampled_negatives=20",
        "features.batch_size=32", "train.precision=fp32"]
MODALITIES = ["id", "style", "image", "text", "price"]
# A dead holder's lease is taken over after its TTL: short here, so that a retry after kill -9 waits seconds.
LEASE = ["lease.ttl_s=20"]
# Leases are coordination state, not outputs: a re-run takes new generations by design.
NOT_OUTPUTS = ("_locks",)
RUN_TIMEOUT = 1200
# Three epochs: the fault test kills training after the first one reached S3, and the two after it are the
# window it has to hit (an epoch of the tiny sample takes seconds).
EPOCHS = 3
# Batch recommendations are stamped with the wall-clock time they were generated (the `generated_at` column
# and manifest field, tasks/recommend_batch.py): the one value a re-run changes by design. Compared without it,
# as tests/tasks/test_recommend_batch.py does; every other byte must match.
RECOMMENDATIONS = "recommendations/"
GENERATED_AT = "generated_at"
# What a training run measures about itself (history.json, report.json, the checkpoint's history): wall time
# and throughput per epoch.
TIMINGS = ("seconds", "sequences_per_s")


def conf(dataset: str, **extra) -> dict:
    """The run's params: the tiny sample from S3 into `<root>/<dataset>`, registered as model `mtstrec-<dataset>`."""
    return {"root": "s3://mtstrec/data", "dataset": dataset, "raw": f"s3://mtstrec/{RAW_PREFIX}".rstrip("/"),
            "layout": "hm", "config": "configs/demo.toml", "epochs": EPOCHS, "modalities": MODALITIES,
            "overrides": [*TINY, *LEASE, f"registry.model_name=mtstrec-{dataset}"], **extra}


def _table_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def without_generation_time(rel: str, body: bytes) -> bytes:
    """`body` of output `rel` with the recommendations' generation time taken out (other files unchanged)."""
    if not rel.startswith(RECOMMENDATIONS):
        return body
    if rel.endswith(".parquet"):
        return _table_bytes(pq.read_table(io.BytesIO(body)).drop_columns([GENERATED_AT]))
    if rel.endswith(".json"):
        manifest = json.loads(body)
        manifest.pop(GENERATED_AT)
        return json.dumps(manifest, sort_keys=True).encode()
    return body


def _without_timings(value):
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def _content(value):
    """A loaded checkpoint as plain JSON-able values, tensors as (dtype, shape, sha256 of their bytes): equal
    for equal contents. Pickled bytes are not: a resumed run's checkpoint pickled to other bytes than an
    uninterrupted run's with every key, type and value equal (pickle records which objects are shared)."""
    if isinstance(value, dict):
        return {str(k): _content(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_content(v) for v in value]
    if isinstance(value, torch.Tensor):
        data = value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        return ["tensor", str(value.dtype), list(value.shape), hashlib.sha256(data).hexdigest()]
    return value


def output_digests(s3, dataset: str) -> dict[str, str]:
    """sha256 of every output of `<root>/<dataset>` (leases apart): byte for byte, but the recommendations'
    generation time (see GENERATED_AT)."""
    return {rel: hashlib.sha256(without_generation_time(rel, body)).hexdigest()
            for rel, body in s3_objects(s3, "mtstrec", f"data/{dataset}/", NOT_OUTPUTS).items()}


def comparable_outputs(s3, dataset: str, served: bool = True) -> dict[str, str]:
    """The dataset's outputs in a form two datasets' runs of the same data and config can be compared in.

    Byte for byte, except: the run directory's name (its config digest covers the dataset name) becomes
    `<run>`; text files get the dataset name replaced; Parquet files are compared as tables (data and
    schema), because their metadata records when they were written; the recommendations without their
    generation time; a run's JSON and checkpoints without their timings (TIMINGS), checkpoints by their
    contents (`_content`); the report's plots not at all (their
    titles name the dataset; they are drawn from report.json, which is compared). `served=False` leaves
    the recommendations out: they come from whichever version is champion when the run serves, which
    concurrent runs of several dates legitimately change.
    """
    out = {}
    for rel, body in s3_objects(s3, "mtstrec", f"data/{dataset}/", NOT_OUTPUTS).items():
        if (not served and rel.startswith(RECOMMENDATIONS)) or rel.endswith(".png"):
            continue
        parts = rel.split("/")
        run_name = parts[1] if parts[0] == "runs" else None
        if run_name:
            parts[1] = run_name[:11] + "<run>"
        if rel.endswith(".parquet"):
            table = pq.read_table(io.BytesIO(body)).replace_schema_metadata(None)
            if rel.startswith(RECOMMENDATIONS):
                table = table.drop_columns([GENERATED_AT])
            body = _table_bytes(table)
        elif run_name and rel.endswith(".pt"):
            payload = _without_timings(torch.load(io.BytesIO(body), weights_only=True))
            body = json.dumps(_content(payload), sort_keys=True).encode()
        elif rel.endswith((".json", ".md")):
            body = without_generation_time(rel, body)
            if run_name and rel.endswith(".json"):
                body = json.dumps(_without_timings(json.loads(body)), sort_keys=True).encode()
            if run_name:
                body = body.replace(run_name.encode(), b"<run>")
            body = body.replace(dataset.encode(), b"<dataset>")
        out["/".join(parts)] = hashlib.sha256(body).hexdigest()
    return out


def unreadable_parquet(s3, prefix: str) -> list[str]:
    """Parquet objects under `prefix` whose footer does not parse: what a reader would choke on."""
    bad = []
    for key in s3_keys(s3, "mtstrec", prefix):
        if key.endswith(".parquet"):
            try:
                pq.read_metadata(io.BytesIO(s3.get_object(Bucket="mtstrec", Key=key)["Body"].read()))
            except Exception as err:
                bad.append(f"{key}: {err}")
    return bad


def poll(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
