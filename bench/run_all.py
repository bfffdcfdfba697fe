"""Run every benchmark and write docs/benchmarks.md (what `make bench` does).

Each script runs in its own process from the repository root with PYTHONPATH=src, so the
figures are for this checkout. loop_overhead.py runs with the bench environment's Python
(`make bench-env`: Lightning and fastai installed) so the peers are included; a peer that
is missing is reported as skipped by the script itself. The page records the date, `dlf
env` from both environments, the load average before and after each script (the machine
may be shared: the scripts alternate their runs and quote medians), and every line each
script printed, under the exact command that produced it.

    python bench/run_all.py --bench-python .venv-bench/bin/python --out docs/benchmarks.md
    python bench/run_all.py --quick --out /tmp/bench.md    # smoke run, tiny sizes
"""

import argparse
import datetime
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (script, default arguments, quick arguments); sizes chosen for ~15 minutes on 2 cores
BENCHES = [
    ("loop_overhead.py", ["--steps", "60", "--repeats", "5"], ["--steps", "3", "--repeats", "1"]),
    (
        "data_throughput.py",
        ["--n", "2000", "--size", "256", "--epochs", "3"],
        ["--n", "64", "--size", "64", "--bs", "16", "--epochs", "1"],
    ),
    ("data_wait.py", ["--epochs", "3"], ["--epochs", "1"]),
    (
        "precision.py",
        ["--sizes", "128", "224", "--steps", "6", "--repeats", "3"],
        ["--sizes", "32", "--steps", "3", "--warmup", "1", "--repeats", "1"],
    ),
    (
        "mfu.py",
        ["--size", "128", "--steps", "8", "--repeats", "5"],
        ["--size", "32", "--steps", "2", "--repeats", "1", "--screen", "1"],
    ),
    (
        "oid_eval.py",
        ["--images", "41620", "--repeats", "3", "--baseline-images", "400"],
        ["--images", "300", "--repeats", "1", "--baseline-images", "50"],
    ),
    (
        "nms.py",
        ["--boxes", "1000", "4000", "--classes", "1", "80", "--repeats", "5"],
        ["--boxes", "200", "--classes", "1", "5", "--repeats", "1"],
    ),
    (
        "detection_train.py",
        ["--size", "128", "--bs", "8", "--steps", "6", "--repeats", "5", "--threads", "1"],
        ["--size", "64", "--bs", "2", "--steps", "2", "--repeats", "1"],
    ),
    (
        "backbones.py",
        ["--size", "64", "--steps", "10", "--repeats", "5", "--threads", "1"],
        [
            "--size",
            "32",
            "--steps",
            "2",
            "--repeats",
            "1",
            "--models",
            "efficientnet_b0",
            "--memory-size",
            "32",
            "--memory-models",
            "efficientnet_b0",
        ],
    ),
    ("tfrecord_read.py", [], ["--records", "4", "--repeats", "1"]),
    (
        "stream_memory.py",
        ["--shards", "30", "60"],
        ["--shards", "2", "4", "--records", "4", "--bs", "2"],
    ),
]


NOTES = """## What the scripts measure, and what limits the figures

- **loop_overhead.py**: seconds for the same small CNN, data, SGD and steps, trained by a
  plain loop, `dlf.Learner` (default callbacks, progress bar on), Lightning's `Trainer`
  and fastai's `Learner` (validation off in both peers, as in the plain loop). Target:
  dlf within 3% of plain, faster than both peers.
- **data_throughput.py**: images/s of the decoded-image cache + batched dlf augmentation
  against per-item pipelines in a 2-worker DataLoader, the same augmentation on all sides
  (flip, rotate, zoom as one bilinear resample; brightness, contrast). Target: 3x the
  Pillow pipeline. On CPU the batched bilinear `grid_sample` alone costs about as much per
  image as Pillow's whole decode + affine + enhance, so the cache (which saves the decode)
  cannot reach 3x there; on a GPU the resample is nearly free.
- **tfrecord_read.py**: records/s and MB/s reading YouTube-8M frame-level records (351 KB)
  with dlf.data.tfrecord, a pure-Python reader (the baseline), protobuf + google-crc32c and
  the `tfrecord` package (the last two if installed).
- **stream_memory.py**: peak RSS of the main process and of the largest worker for one
  streamed epoch (dlf.data.stream) over a few and over many shards.
- **data_wait.py**: the share of training time the Learner spends waiting in
  `next(batch)` (loading plus the batch transforms) in the APTOS default run. Target: < 5%.
- **precision.py**: training images/s by precision and memory format, with the loss each
  reaches on the same fixed batches from the same weights. Target: `--precision auto`
  at least 2x fp32, final loss within a few percent.
- **mfu.py**: dlf's Learner against the fastest plain configuration of the same
  ResNet-18 step, and model FLOP/s against a measured matmul peak (orientation only: on
  CPU, Winograd/oneDNN convolutions are not bound by the matmul figure). Target: dlf at
  least 0.97 of plain.
- **oid_eval.py**: seconds for dlf to read and score a generated Open Images 2019
  detection submission of the real validation set's size (41,620 images, 500 classes,
  about 2 million detections), against the plain loop-per-image-and-class reference
  written from the official evaluator's structure (tests/tasks/oid/reference.py), timed
  on a subset of images and extrapolated per image (scoring only, no reading). The
  official evaluator (TensorFlow, pandas) is not installed here. Target: well under 60 s,
  at least 10x the official evaluator.
- **nms.py**: per-class NMS of detector-like candidates (overlapping clusters), dlf's
  fixed-point NMS against the brute-force Python reference and the usual pure-PyTorch
  greedy loop (all checked to keep the same boxes first), one torch thread.
- **detection_train.py**: training images/s of fcos_resnet18 + FCOSLoss + SGD in dlf's
  Learner against the same model, loss, optimizer and batches in a plain loop, fp32, one
  torch thread (with two on the loaded machine single runs varied 0.3-1.3 images/s, with one
  within a few percent). Target: dlf at least 0.97 of plain.
- **backbones.py**: the training step of DenseNet-121 and EfficientNet-B0 in dlf's
  `Learner` against the same model, weights, data and SGD in a plain loop (images/s, ratio);
  then the activation memory per image autograd keeps at 224 px (any device; on a GPU also
  the peak memory of the timed step). One thread: with two, a shared machine's load swung
  the ratio from 0.6 to 1.0 between runs. Target: dlf at least 0.97 of plain.

- **gpu.py** (not run here: it needs a GPU): ResNet-50 training images/s at 224 px in bf16
  + channels_last (plain loop, dlf Learner, timm, compiled, Lightning), the data path
  against a per-item Pillow DataLoader with 8 workers, the data-wait share of a task run,
  peak GPU memory. **The GPU figures are not yet taken**: no GPU machine was lent when it
  was written; `python bench/gpu.py --smoke` runs every part on the CPU.

The machine has 2 cores and may be shared: a 2-thread PyTorch process competing for the
cores loses far more than its share (every parallel region waits for a descheduled
thread), so absolute figures move with the load; the ratios come from alternating runs.
"""


def load() -> str:
    """The 1, 5 and 15 minute load averages (what `uptime` prints)."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def run(cmd: list[str]) -> tuple[str, int, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    out = proc.stdout
    if proc.returncode != 0:
        out += "\n" + "\n".join(proc.stderr.splitlines()[-15:])
    return out.rstrip(), proc.returncode, time.perf_counter() - t


def env_of(python: str) -> str:
    out, _, _ = run([python, "-c", "from dlf.data.env import env_report; print(env_report())"])
    return out


def rel(python: str) -> str:
    p = Path(python)
    return str(p.relative_to(ROOT)) if p.is_absolute() and p.is_relative_to(ROOT) else python


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", default=sys.executable, help="Python of the project venv")
    ap.add_argument("--bench-python", default=None, help="Python of .venv-bench (peers)")
    ap.add_argument("--out", default="docs/benchmarks.md")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: check that all run")
    ap.add_argument("--only", nargs="*", default=None, help="run only these scripts")
    args = ap.parse_args()
    bench_py = args.bench_python or args.python
    if args.bench_python and not Path(args.bench_python).exists():
        print(f"{args.bench_python} not found (run `make bench-env`); peers will be skipped")
        bench_py = args.python

    started = datetime.datetime.now().astimezone()
    sections = []
    for script, default, quick in BENCHES:
        if args.only and script not in args.only:
            continue
        python = bench_py if script == "loop_overhead.py" else args.python
        cmd = [python, f"bench/{script}", *(quick if args.quick else default)]
        shown = "PYTHONPATH=src " + shlex.join([rel(python), *cmd[1:]])
        before = load()
        print(f"$ {shown}   (load average {before})", flush=True)
        out, rc, seconds = run(cmd)
        after = load()
        print(out, flush=True)
        status = "" if rc == 0 else f" — FAILED with exit status {rc}"
        sections.append(
            f"## {script}{status}\n\n```\n$ {shown}\n{out}\n```\n\n"
            f"{seconds:.0f} s; load average (1, 5, 15 min) {before} before, {after} after.\n"
        )

    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (bench/run_all.py{' --quick' if args.quick else ''}) "
        f"on {started:%Y-%m-%d %H:%M %Z}. Every figure below is the output of the command "
        "above it; ratios come from runs alternated within one process, medians throughout. "
        "The machine may be shared with other work: the load average is recorded around "
        "each script (2 CPU cores: a load above 2 means the figures were taken while "
        "competing for the cores).",
        "",
        "## Machine (`dlf env`)",
        "",
        "```",
        env_of(args.python),
        "```",
        "",
    ]
    if bench_py != args.python:
        lines += ["Bench environment (.venv-bench, with the peers):", "", "```",
                  env_of(bench_py), "```", ""]  # fmt: skip
    lines += [NOTES, ""]
    out = ROOT / args.out if not Path(args.out).is_absolute() else Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n" + "\n".join(sections))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
