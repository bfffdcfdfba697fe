"""Does streaming keep memory bounded whatever the number of shards? One epoch of the
YouTube-8M task's training stream (dlf.data.stream.ShardStream: decode in worker processes,
pad, dequantise) over shards of real-size records (300 frames x 1,152 bytes), measured in a
fresh process per setting: peak RSS of the main process and of the largest worker, the
batches/s and MB/s read, for a few shards and for many (same records per shard).

    python bench/stream_memory.py                      # 6 and 60 shards of 8 records
    python bench/stream_memory.py --shards 6 12        # smoke run
    MALLOC_MMAP_THRESHOLD_=1048576 python bench/stream_memory.py   # glibc: big blocks by mmap

What the stream holds is bounded (a shuffle buffer and a queue per worker, one batch in the
main process); with glibc's default dynamic mmap threshold the main process's heap still
creeps up as batch-sized blocks fragment it, which the fixed threshold above removes.
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_shards(folder: Path, n: int, records: int) -> list[Path]:
    from dlf.data.tfrecord import encode_sequence_example, write_records

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (300, 1152), dtype=np.uint8)  # contents do not matter here
    lists = {
        "rgb": [[f[:1024].tobytes()] for f in frames],
        "audio": [[f[1024:].tobytes()] for f in frames],
    }
    paths = []
    for s in range(n):
        recs = [encode_sequence_example({"id": [f"{s}-{i}".encode()], "labels": np.array([i % 50])}, lists)
                for i in range(records)]  # fmt: skip
        paths.append(folder / f"train{s:04d}.tfrecord")
        write_records(paths[-1], recs)
    return paths


def one_epoch(folder: str, workers: int, buffer: int, bs: int) -> dict:
    """Run in a fresh process: stream one epoch, report peak RSS (MB) and speed."""
    from dlf.tasks.yt8m.streaming import train_stream

    shards = sorted(Path(folder).glob("*.tfrecord"))
    stream = train_stream(shards, 3862, bs, 0, workers, buffer, False)
    t, n = time.perf_counter(), 0
    for batch in stream:
        n += len(batch["frames"])
    seconds = time.perf_counter() - t
    size = sum(p.stat().st_size for p in shards)
    return {
        "shards": len(shards),
        "videos": n,
        "seconds": seconds,
        "mb_per_s": size / 1e6 / seconds,
        "main_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "data_mb": size / 1e6,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shards", type=int, nargs="+", default=[6, 60])
    ap.add_argument("--records", type=int, default=8, help="records per shard")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--buffer", type=int, default=16)
    ap.add_argument("--bs", type=int, default=16)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(one_epoch(args.child, args.workers, args.buffer, args.bs)))
        return
    print(f"one streamed epoch: {args.workers} workers, shuffle buffer {args.buffer} records a "
          f"stream, batch {args.bs}, {args.records} records of 351 KB a shard")  # fmt: skip
    for n in args.shards:
        with tempfile.TemporaryDirectory() as tmp:
            write_shards(Path(tmp), n, args.records)
            cmd = [sys.executable, __file__, "--child", tmp, "--workers", str(args.workers),
                   "--buffer", str(args.buffer), "--bs", str(args.bs)]  # fmt: skip
            r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        print(f"  {r['shards']:3d} shards ({r['data_mb']:6.0f} MB, {r['videos']} videos): "
              f"peak RSS main {r['main_peak_mb']:6.0f} MB, largest worker {r['worker_peak_mb']:5.0f} MB; "
              f"{r['mb_per_s']:6.1f} MB/s")  # fmt: skip


if __name__ == "__main__":
    main()
