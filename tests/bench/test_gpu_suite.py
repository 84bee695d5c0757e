"""The GPU suite runs unchanged on the CPU at its --smoke size and prints one JSON with every figure."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_suite_smoke_on_the_cpu(tmp_path):
    done = subprocess.run(["bash", "bench/gpu_suite.sh", "--smoke"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path)},
                          timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result == json.loads((tmp_path / "gpu_suite.json").read_text())
    assert result["smoke"] is True and result["device"] == "cpu"
    for mode in ("off", "on"):
        train = result["train_bf16"][mode]
        assert train["precision"] == "bf16" and train["compile"] == mode
        assert train["sequences_per_s"] > 0 and train["gflop_per_sequence"] > 0 and 0 < train["mfu"] < 1
        assert train["peak_source"] == "measured"  # no spec sheet for a CPU
        # sampled before and after the timed steps, the higher kept; the median step lies among the steps
        assert len(train["peak_samples_gflops"]) == 2 and train["peak_gflops"] == max(train["peak_samples_gflops"])
        assert min(train["step_seconds"]) <= train["median_seconds_per_step"] <= max(train["step_seconds"])
    assert result["recommend"]["p50_ms"] > 0 and result["recommend"]["p99_ms"] >= result["recommend"]["p50_ms"]
    features = result["features"]
    assert features["images"] == 16 and features["present"] == 16 and features["quarantined"] == 0
    assert features["end_to_end_images_per_s"] > 0
