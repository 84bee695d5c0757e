"""The original MTSTRec training step and ours, alternated in one run, with this CPU's matmul peaks.

The original is timed by a separate script (`ref_throughput.py`, given by path and run as a
subprocess with REF_DIR pointing at a checkout of idssplab/MTSTRec; nothing of it is imported
here). Each round runs: the fp32 and bf16 matmul peaks, the original, ours in fp32, ours in bf16
(the original first in even rounds, last in odd ones, so slow drifts in background load hit both).
Every run is its own process, so each peak RSS is its own. Run by hand, e.g.

    REF_DIR=/path/to/MTSTRec .venv/bin/python -m bench.train_vs_original ../shared/bench/ref_throughput.py
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys

# A precision whose matmul peak is below this fraction of fp32's is not timed (no native bf16 on the CPU).
SKIP_BELOW = 0.1


def run(command: list[str], env: dict[str, str]) -> tuple[str, float]:
    """Run `command`, return its stdout and its own peak RSS in GB."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(command)} failed ({proc.returncode}):\n{out}")
    return out, usage.ru_maxrss / 1024**2


def original(script: str, batches: int, items: int, env: dict[str, str]) -> dict:
    out, rss = run([sys.executable, script, "--batches", str(batches), "--items", str(items)], env)
    figures = dict(re.findall(r"^(\w+_seq_per_s)=([\d.]+)", out, re.MULTILINE))
    if "train_total_seq_per_s" not in figures:
        raise RuntimeError(f"{script} printed no train_total_seq_per_s:\n{out}")
    return {"sequences_per_s": float(figures["train_total_seq_per_s"]),
            "step_only_sequences_per_s": float(figures["train_step_seq_per_s"]), "peak_rss_gb": round(rss, 2)}


def ours(variant: str, steps: int, items: int, threads: int, env: dict[str, str]) -> dict:
    """`variant`: a precision, then optional ":compile" and ":no<lever>" parts, e.g. "fp32:nofold:nodropout"."""
    precision, *parts = variant.split(":")
    command = [sys.executable, "-m", "bench.train_throughput", "--json", "--precision", precision,
               "--steps", str(steps), "--items", str(items), "--threads", str(threads),
               "--compile", "on" if "compile" in parts else "off"]
    without = [p.removeprefix("no") for p in parts if p.startswith("no")]
    if without:
        command += ["--without", *without]
    out, rss = run(command, env)
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_gb"] = round(rss, 2)
    return result


def peaks(threads: int, env: dict[str, str]) -> dict:
    out, _ = run([sys.executable, "-m", "bench.matmul_peak", "--threads", str(threads)], env)
    return json.loads(out.strip().splitlines()[-1])


def cpu_model() -> str:
    with open("/proc/cpuinfo") as f:
        names = re.findall(r"^model name\s*:\s*(.+)$", f.read(), re.MULTILINE)
    return names[0] if names else "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ref_script", help="path of ref_throughput.py (needs REF_DIR in the environment)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--ref-batches", type=int, default=6, help="batches of 64 the original times per run")
    parser.add_argument("--steps", type=int, default=8, help="steps of 64 ours times per run")
    parser.add_argument("--items", type=int, default=20000,
                        help="catalog size, the same for both (ours deduplicates a batch's candidates; the original "
                             "encodes every candidate row, so its speed does not depend on it)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ours", nargs="+", default=["fp32", "bf16"],
                        help='variants of ours: a precision, then optional ":compile" and ":nofold"/":nodropout" '
                             '(levers off), e.g. fp32 fp32:compile fp32:nofold:nodropout')
    args = parser.parse_args()
    if "REF_DIR" not in os.environ:
        parser.error("set REF_DIR to a checkout of idssplab/MTSTRec")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    rounds = []
    for r in range(args.rounds):
        row: dict = {"round": r + 1, "load_average_1min": os.getloadavg()[0], "peak_gflops": peaks(args.threads, env)}
        if r % 2 == 0:
            row["original"] = original(args.ref_script, args.ref_batches, args.items, env)
        for variant in args.ours:
            precision = variant.split(":")[0]
            if row["peak_gflops"][precision] < SKIP_BELOW * row["peak_gflops"]["fp32"]:
                row[variant] = {"skipped": f"{precision} matmul peak {row['peak_gflops'][precision]} GFLOP/s is under "
                                           f"{SKIP_BELOW:.0%} of fp32's on this CPU: hours for a few steps"}
                continue
            row[variant] = ours(variant, args.steps, args.items, args.threads, env)
        if r % 2 == 1:
            row["original"] = original(args.ref_script, args.ref_batches, args.items, env)
        row["load_average_1min_after"] = os.getloadavg()[0]
        rounds.append(row)
        print(json.dumps(row), flush=True)

    peak = {p: max(row["peak_gflops"][p] for row in rounds) for p in ("fp32", "bf16")}
    print(f"\nCPU: {cpu_model()}, {args.threads} threads; "
          f"matmul peak this run: fp32 {peak['fp32']:.0f}, bf16 {peak['bf16']:.0f} GFLOP/s")
    print("| round | load (1 min, before-after) | original (seq/s) | ours | seq/s | ratio | GFLOP/s "
          "| MFU (of this run's peak) | peak RSS |")
    print("|---|---|---|---|---|---|---|---|---|")
    ratios: dict[str, list[float]] = {v: [] for v in args.ours}
    for row in rounds:
        for v in args.ours:
            r = row[v]
            load = f"{row['load_average_1min']:.1f}-{row['load_average_1min_after']:.1f}"
            precision = v.split(":")[0]
            if "skipped" in r:
                print(f"| {row['round']} | {load} | {row['original']['sequences_per_s']:.2f} | {v} | "
                      f"skipped: {r['skipped']} |")
                continue
            ratios[v].append(r["sequences_per_s"] / row["original"]["sequences_per_s"])
            print(f"| {row['round']} | {load} | {row['original']['sequences_per_s']:.2f} | {v} | "
                  f"{r['sequences_per_s']:.2f} | "
                  f"{ratios[v][-1]:.2f}x | {r['achieved_gflops']:.0f} | "
                  f"{100 * r['achieved_gflops'] / peak[precision]:.0f}% of {peak[precision]:.0f} | "
                  f"{r['peak_rss_gb']:.2f} GB |")
    for v in args.ours:
        if ratios[v]:
            print(f"ours {v} / original: median {statistics.median(ratios[v]):.2f}x over {len(ratios[v])} rounds")
    print(f"original: peak RSS {max(row['original']['peak_rss_gb'] for row in rounds):.2f} GB")


if __name__ == "__main__":
    main()
