"""How fast does dlf read YouTube-8M frame-level TFRecords? Records/s and MB/s from shards
of the real record size (300 frames x (1,024 + 128) bytes, ~350 KB a record), each record
read, CRC-checked and decoded into a uint8 frame array, for:

- dlf: dlf.data.tfrecord (google-crc32c + the hand wire-format codec), via
  dlf.tasks.yt8m.files.iter_videos;
- pure Python: the simplest correct reader: the same framing with a table-driven CRC-32C
  in Python, and the same pure-Python message codec (the baseline: ratio 1);
- protobuf: google-crc32c framing + the `protobuf` package's parser (upb) on the
  SequenceExample messages of the `tfrecord` package (example_pb2), if installed;
- tfrecord package: its own reader (`tfrecord.reader.sequence_loader`), if installed.
  Note that it reads the CRCs but never checks them.

    python bench/tfrecord_read.py                # 2 shards x 48 records
    python bench/tfrecord_read.py --records 8    # smoke run
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from dlf.data.tfrecord import encode_sequence_example, masked_crc32c, read_records, write_records
from dlf.tasks.yt8m.files import iter_videos


def make_shards(folder: Path, n_shards: int, records: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for s in range(n_shards):
        recs = []
        for i in range(records):
            frames = rng.integers(0, 256, (300, 1152), dtype=np.uint8)
            ctx = {"id": [f"v{s}{i:03d}".encode()], "labels": np.array([1, 5, 3000])}
            lists = {
                "rgb": [[f[:1024].tobytes()] for f in frames],
                "audio": [[f[1024:].tobytes()] for f in frames],
            }
            recs.append(encode_sequence_example(ctx, lists))
        paths.append(folder / f"train{s:04d}.tfrecord")
        write_records(paths[-1], recs)
    return paths


# -- the simplest correct pure-Python reader -----------------------------------------------------


def _crc_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        table.append(c)
    return table


TABLE = _crc_table()


def crc32c_python(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def pure_python(paths: list[Path], limit: int) -> int:
    from dlf.data.tfrecord import parse_sequence_example

    n = 0
    for path in paths:
        with open(path, "rb") as f:
            while n < limit:
                header = f.read(12)
                if not header:
                    break
                assert crc32c_python(header[:8]) == int.from_bytes(header[8:], "little")
                data = f.read(int.from_bytes(header[:8], "little"))
                assert crc32c_python(data) == int.from_bytes(f.read(4), "little")
                ex = parse_sequence_example(data)
                np.frombuffer(b"".join(s[0] for s in ex.feature_lists["rgb"]), np.uint8)
                n += 1
    return n


def dlf_reader(paths: list[Path], limit: int) -> int:
    n = 0
    for video in iter_videos(paths):
        n += 1
        assert video.frames.shape == (300, 1152)
    return n


def protobuf_reader(paths: list[Path], limit: int) -> int:
    from tfrecord import example_pb2

    n = 0
    for path in paths:
        for data in read_records(path):  # google-crc32c, verified
            ex = example_pb2.SequenceExample.FromString(data)
            lists = ex.feature_lists.feature_list
            rgb = np.frombuffer(
                b"".join(f.bytes_list.value[0] for f in lists["rgb"].feature), np.uint8
            )
            audio = np.frombuffer(
                b"".join(f.bytes_list.value[0] for f in lists["audio"].feature), np.uint8
            )
            np.concatenate([rgb.reshape(-1, 1024), audio.reshape(-1, 128)], 1)
            n += 1
    return n


def tfrecord_package(paths: list[Path], limit: int) -> int:
    from tfrecord.reader import sequence_loader

    n = 0
    for path in paths:
        for _, seq in sequence_loader(str(path), None, ["id", "labels"], ["rgb", "audio"]):
            rgb = np.frombuffer(b"".join(seq["rgb"]), np.uint8).reshape(-1, 1024)
            audio = np.frombuffer(b"".join(seq["audio"]), np.uint8).reshape(-1, 128)
            np.concatenate([rgb, audio], 1)
            n += 1
    return n


def measure(fn, paths, limit, repeats) -> tuple[float, int]:
    times, n = [], 0
    for _ in range(repeats):
        t = time.perf_counter()
        n = fn(paths, limit)
        times.append(time.perf_counter() - t)
    return statistics.median(times), n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--records", type=int, default=48, help="records per shard")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_shards(Path(tmp), args.shards, args.records)
        size = sum(p.stat().st_size for p in paths)
        per_record = size / (args.shards * args.records)
        assert masked_crc32c(b"123456789") == crc32c_python(b"123456789")
        readers = {"pure Python (baseline)": (pure_python, 3, 1), "dlf": (dlf_reader, 10**9, args.repeats),
                   "protobuf + google-crc32c": (protobuf_reader, 10**9, args.repeats),
                   "tfrecord package (no CRC check)": (tfrecord_package, 10**9, args.repeats)}  # fmt: skip
        print(f"{len(paths)} shards, {per_record / 1e3:.0f} KB a record (300 frames x 1,152 bytes); "
              f"median of {args.repeats} passes (pure Python: 3 records, 1 pass)")  # fmt: skip
        base = None
        for name, (fn, limit, repeats) in readers.items():
            try:
                seconds, n = measure(fn, paths, limit, repeats)
            except ImportError as e:
                print(f"  {name:34s} not installed ({e.name})")
                continue
            rate = n / seconds
            base = base or rate
            print(
                f"  {name:34s} {rate:9.1f} records/s {rate * per_record / 1e6:8.1f} MB/s  x{rate / base:7.1f}"
            )


if __name__ == "__main__":
    main()
