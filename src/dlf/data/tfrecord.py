"""TensorFlow's TFRecord files and `tf.train.(Sequence)Example` messages, without TensorFlow.

A TFRecord file is a run of records, each framed as

    uint64 length (little-endian) | uint32 masked CRC-32C of those 8 bytes
    data (length bytes)           | uint32 masked CRC-32C of the data

where mask(crc) = rotate-right(crc, 15) + 0xA282EAD8 (mod 2**32). The CRC comes from the
`google-crc32c` package (Google's C library, hardware-accelerated; a pure-Python table CRC
is hundreds of times slower and serves as the tests' reference and the benchmark's baseline).

The messages are those of tensorflow/core/example/{feature,example}.proto, decoded and
encoded here by a small hand codec of the protobuf wire format (field numbers below). Why
not the `protobuf` package: it ships no TensorFlow messages, so it would need descriptors
built at run time, a large dependency for five tiny messages, and its objects would still
have to be copied into numpy; the hand codec goes straight to numpy (packed floats and
ints are one `np.frombuffer`), and frame features (hundreds of steps of one fixed-size
string) are checked and cut out as one strided array: ~3.8x protobuf's C parser on
YouTube-8M records (bench/tfrecord_read.py; docs/tasks/yt8m.md has the figures). The
`tfrecord` package (a pure-Python reader over protobuf) was slower still and never checks
the CRCs it reads.

The tests check it byte for byte, both ways, against messages built by `protobuf` from the
published .proto text.

    BytesList    { repeated bytes value = 1; }
    FloatList    { repeated float value = 1 [packed = true]; }
    Int64List    { repeated int64 value = 1 [packed = true]; }
    Feature      { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2;
                                Int64List int64_list = 3; } }
    Features     { map<string, Feature> feature = 1; }
    FeatureList  { repeated Feature feature = 1; }
    FeatureLists { map<string, FeatureList> feature_list = 1; }
    Example          { Features features = 1; }
    SequenceExample  { Features context = 1; FeatureLists feature_lists = 2; }

A decoded feature is a `list[bytes]` (bytes_list), a float32 array (float_list) or an int64
array (int64_list); the encoder takes the same (or lists of Python ints/floats).
"""

import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import google_crc32c
import numpy as np

from dlf.core.atomic import atomic_write
from dlf.core.errors import DlfError

Feature = list[bytes] | np.ndarray

_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC-32C of `data`."""
    crc = google_crc32c.value(data)
    return ((((crc >> 15) | (crc << 17)) & _U32) + _MASK_DELTA) & _U32


# -- records ---------------------------------------------------------------------------------


@dataclass
class ReadStats:
    """What a tolerant read skipped: records with a bad data CRC, and shards cut short."""

    skipped: int = 0
    problems: list[str] = field(default_factory=list)


def read_records(
    path: str | os.PathLike,
    *,
    skip_corrupt: bool = False,
    stats: ReadStats | None = None,
    verify: bool = True,
) -> Iterator[bytes]:
    """The records of one TFRecord file, CRCs verified.

    A truncated file or a CRC mismatch raises a one-line DlfError naming the file and the
    record index. With `skip_corrupt`, a record whose data CRC fails is skipped and counted
    in `stats`; a bad length or a truncated tail ends the file there (counted as one), since
    nothing after it can be framed."""
    path = Path(path)
    stats = stats if stats is not None else ReadStats()

    def problem(index: int, what: str, fix: str) -> bool:
        msg = f"{path}: record {index}: {what}"
        if not skip_corrupt:
            raise DlfError(f"{msg}; {fix}")
        stats.skipped += 1
        stats.problems.append(msg)
        return True

    redownload = "download the shard again (or read with skip_corrupt to skip it)"
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed below; a generator cannot use `with` across yields cleanly)
    except OSError as e:
        raise DlfError(f"{path}: cannot open TFRecord file ({e.strerror})") from None
    with f:
        index = 0
        while True:
            header = f.read(12)
            if not header:
                return
            if len(header) < 12:
                problem(index, f"truncated header ({len(header)} of 12 bytes)", redownload)
                return
            length_bytes, length_crc = header[:8], int.from_bytes(header[8:], "little")
            if verify and masked_crc32c(length_bytes) != length_crc:
                problem(index, "length CRC mismatch (corrupt file)", redownload)
                return
            (length,) = struct.unpack("<Q", length_bytes)
            data = f.read(length)
            footer = f.read(4)
            if len(data) < length or len(footer) < 4:
                problem(index, f"truncated record ({len(data)} of {length} bytes)", redownload)
                return
            if verify and masked_crc32c(data) != int.from_bytes(footer, "little"):
                problem(index, "data CRC mismatch (corrupt record)", redownload)
            else:
                yield data
            index += 1


def frame_record(data: bytes) -> bytes:
    """One record in TFRecord framing."""
    length = struct.pack("<Q", len(data))
    return b"".join((
        length, struct.pack("<I", masked_crc32c(length)),
        data, struct.pack("<I", masked_crc32c(data)),
    ))  # fmt: skip


def write_records(path: str | os.PathLike, records: Iterable[bytes]) -> int:
    """Write records as one TFRecord file (atomically: the old file or the whole new one);
    returns how many were written."""
    n = 0
    with atomic_write(path, "wb") as f:
        for data in records:
            f.write(frame_record(data))
            n += 1
    return n


# -- the protobuf wire format ----------------------------------------------------------------

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


class _WireError(ValueError):
    pass


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    b = buf[pos]  # IndexError at the end of the buffer: reported as truncated by the caller
    if b < 0x80:
        return b, pos + 1
    value, shift = b & 0x7F, 7
    while True:
        pos += 1
        b = buf[pos]
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos + 1
        shift += 7
        if shift > 63:
            raise _WireError("varint longer than 10 bytes")


def _fields(buf: bytes, pos: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, start, end) of each field in buf[pos:end]; for a varint the
    start is its value. Fields of unknown numbers are for the caller to ignore."""
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == _LEN:
            n, pos = _varint(buf, pos)
            if pos + n > end:
                raise _WireError(f"field {number} runs past its message")
            yield number, wire, pos, pos + n
            pos += n
        elif wire == _VARINT:
            value, pos = _varint(buf, pos)
            yield number, wire, value, pos
        elif wire in (_I64, _I32):
            n = 8 if wire == _I64 else 4
            if pos + n > end:
                raise _WireError(f"field {number} runs past its message")
            yield number, wire, pos, pos + n
            pos += n
        else:
            raise _WireError(f"unsupported wire type {wire} (field {number})")
    if pos != end:
        raise _WireError("message runs past its end")


def _to_int64(u: int) -> int:
    return u - (1 << 64) if u >= 1 << 63 else u


def _parse_feature(buf: bytes, pos: int, end: int) -> Feature:
    value: Feature = []  # a Feature with no kind set reads as an empty bytes list
    for number, wire, s, e in _fields(buf, pos, end):
        if wire != _LEN or number not in (1, 2, 3):
            continue
        if number == 1:
            value = [buf[a:b] for n, w, a, b in _fields(buf, s, e) if n == 1 and w == _LEN]
        elif number == 2:
            chunks = []
            for n, w, a, b in _fields(buf, s, e):
                if n != 1:
                    continue
                if w == _LEN and (b - a) % 4:
                    raise _WireError("packed float list of a length not a multiple of 4")
                if w in (_LEN, _I32):
                    chunks.append(np.frombuffer(buf, "<f4", (b - a) // 4, a))
            value = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
        else:
            ints = []
            for n, w, a, b in _fields(buf, s, e):
                if n != 1:
                    continue
                if w == _VARINT:
                    ints.append(_to_int64(a))
                elif w == _LEN:
                    p = a
                    while p < b:
                        u, p = _varint(buf, p)
                        ints.append(_to_int64(u))
            value = np.array(ints, dtype=np.int64)
    return value


def _parse_map(buf: bytes, pos: int, end: int, parse_value) -> dict:
    out = {}
    for number, wire, s, e in _fields(buf, pos, end):
        if number != 1 or wire != _LEN:
            continue
        key, value = "", None
        for n, w, a, b in _fields(buf, s, e):
            if n == 1 and w == _LEN:
                key = buf[a:b].decode("utf-8")
            elif n == 2 and w == _LEN:
                value = parse_value(buf, a, b)
        out[key] = value if value is not None else parse_value(buf, 0, 0)
    return out


def _parse_feature_list(buf: bytes, pos: int, end: int) -> list[Feature]:
    # Frame features are hundreds of Features that each hold one bytes value, encoded
    # 0a <len> 0a <len> <bytes>: read those without the generic loop (5x faster), and
    # anything else (floats, several values, unknown fields) by the generic path.
    out = []
    while pos < end:
        if buf[pos] != 0x0A:  # not field 1 (LEN): the generic path decides
            return _parse_feature_list_generic(buf, pos, end, out)
        n, s = _varint(buf, pos + 1)
        e = s + n
        if e > end:
            raise _WireError("feature list item runs past its message")
        if n >= 2 and buf[s] == 0x0A:
            m, a = _varint(buf, s + 1)
            if a < e and buf[a] == 0x0A:
                k, v = _varint(buf, a + 1)
                if v + k == e and a + m == e:
                    out.append([buf[v:e]])
                    pos = e
                    continue
        out.append(_parse_feature(buf, s, e))
        pos = e
    return out


def _parse_feature_list_generic(buf: bytes, pos: int, end: int, out: list) -> list[Feature]:
    out.extend(
        _parse_feature(buf, s, e) for n, w, s, e in _fields(buf, pos, end) if n == 1 and w == _LEN
    )
    return out


def _parse_features(buf: bytes, pos: int, end: int) -> dict[str, Feature]:
    return _parse_map(buf, pos, end, _parse_feature)


class SequenceExample:
    """A decoded `tf.train.SequenceExample`: `context` features by name, and `feature_lists`
    (one feature per time step) by name, decoded when first asked for; `frames(name, width)`
    reads a list of fixed-size byte strings (frame features) as one uint8 array directly."""

    def __init__(self, context: dict | None = None, feature_lists: dict | None = None) -> None:
        self.context: dict[str, Feature] = dict(context or {})
        self._lists = dict(feature_lists or {})
        self._buf, self._raw = b"", {}  # name -> (start, end) of a FeatureList not yet decoded
        self._where = ""

    @property
    def feature_lists(self) -> dict[str, list[Feature]]:
        for name, (s, e) in list(self._raw.items()):
            self._lists[name] = _decode(self._buf, self._where, f"feature list {name!r}",
                                        lambda buf, s=s, e=e: _parse_feature_list(buf, s, e))  # fmt: skip
            del self._raw[name]
        return self._lists

    def frames(self, name: str, width: int) -> np.ndarray | None:
        """Feature list `name` as T x `width` uint8 when every step is one `width`-byte
        string (None otherwise, or when absent). The steps of such a list are identical
        headers and payloads, so they are checked and cut out as one strided array."""
        if name in self._raw:
            s, e = self._raw[name]
            head = _step_header(width)
            step = len(head) + width
            if (e - s) % step == 0:
                rows = np.frombuffer(self._buf, np.uint8, e - s, s).reshape(-1, step)
                if (rows[:, : len(head)] == np.frombuffer(head, np.uint8)).all():
                    return rows[:, len(head) :].copy()
        steps = self.feature_lists.get(name)
        if steps is None or not all(
            isinstance(x, list) and len(x) == 1 and len(x[0]) == width for x in steps
        ):
            return None
        return np.frombuffer(b"".join(x[0] for x in steps), np.uint8).reshape(len(steps), width)


def _step_header(width: int) -> bytes:
    """The bytes before the payload of FeatureList.feature = Feature{bytes_list{value: [one
    `width`-byte string]}}: three (tag 0x0a, length) pairs."""
    value = b"\x0a" + _put_varint(width)
    bytes_list = b"\x0a" + _put_varint(len(value) + width)
    return b"\x0a" + _put_varint(len(bytes_list) + len(value) + width) + bytes_list + value


def _decode(buf: bytes, where: str, what: str, parse):
    try:
        return parse(buf)
    except (_WireError, IndexError, UnicodeDecodeError) as e:
        reason = str(e) if isinstance(e, _WireError) else "truncated or malformed message"
        raise DlfError(f"{where or 'record'}: not a valid {what} ({reason})") from None


def parse_sequence_example(buf: bytes, where: str = "") -> SequenceExample:
    """Decode a serialised SequenceExample; `where` ("shard.tfrecord: record 7") starts the
    one-line DlfError raised for a malformed message."""

    def parse(buf: bytes) -> SequenceExample:
        out = SequenceExample()
        for number, wire, s, e in _fields(buf, 0, len(buf)):
            if wire != _LEN:
                continue
            if number == 1:  # a repeated message field merges: later map keys win
                out.context.update(_parse_features(buf, s, e))
            elif number == 2:  # kept as ranges: decoded when asked for (see SequenceExample)
                out._raw.update(_parse_map(buf, s, e, lambda _, a, b: (a, b)))
                out._buf, out._where = buf, where
        return out

    return _decode(buf, where, "SequenceExample", parse)


def parse_example(buf: bytes, where: str = "") -> dict[str, Feature]:
    """Decode a serialised `tf.train.Example` into its features by name."""

    def parse(buf: bytes) -> dict[str, Feature]:
        out: dict[str, Feature] = {}
        for number, wire, s, e in _fields(buf, 0, len(buf)):
            if number == 1 and wire == _LEN:
                out.update(_parse_features(buf, s, e))
        return out

    return _decode(buf, where, "Example", parse)


# -- encoding --------------------------------------------------------------------------------


def _put_varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64s as their two's complement (10 bytes)
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _len_field(number: int, payload: bytes) -> bytes:
    return _put_varint(number << 3 | _LEN) + _put_varint(len(payload)) + payload


def _encode_feature(value) -> bytes:
    if isinstance(value, np.ndarray):
        kind = value.dtype.kind
    elif all(isinstance(v, bytes | bytearray) for v in value):
        kind = "S"
    elif all(isinstance(v, int | np.integer) for v in value):
        kind = "i"
    elif all(isinstance(v, float | int | np.floating | np.integer) for v in value):
        kind = "f"
    else:
        raise TypeError("a feature is a list of bytes, of ints or of floats")
    if kind in "SO":
        inner = b"".join(_len_field(1, bytes(v)) for v in value)
        return _len_field(1, inner)
    if kind == "f":
        packed = np.asarray(value, dtype="<f4").tobytes()
        return _len_field(2, _len_field(1, packed) if packed else b"")
    if kind in "iub":
        packed = b"".join(_put_varint(int(v)) for v in np.asarray(value, dtype=np.int64))
        return _len_field(3, _len_field(1, packed) if packed else b"")
    raise TypeError(f"no TFRecord feature kind for dtype {value.dtype}")


def _encode_map(entries: dict, encode_value) -> bytes:
    # sorted keys: the order of protobuf's deterministic serialisation, so bytes compare
    return b"".join(
        _len_field(
            1, _len_field(1, key.encode("utf-8")) + _len_field(2, encode_value(entries[key]))
        )
        for key in sorted(entries)
    )


def _encode_features(features: dict) -> bytes:
    return _encode_map(features, _encode_feature)


def encode_sequence_example(context: dict, feature_lists: dict) -> bytes:
    """Serialise a SequenceExample (feature_lists: name -> one feature per step)."""
    lists = _encode_map(
        feature_lists, lambda steps: b"".join(_len_field(1, _encode_feature(s)) for s in steps)
    )
    out = b""
    if context:
        out += _len_field(1, _encode_features(context))
    if feature_lists:
        out += _len_field(2, lists)
    return out


def encode_example(features: dict) -> bytes:
    """Serialise a `tf.train.Example`."""
    return _len_field(1, _encode_features(features)) if features else b""


__all__ = [
    "Feature",
    "ReadStats",
    "SequenceExample",
    "encode_example",
    "encode_sequence_example",
    "frame_record",
    "masked_crc32c",
    "parse_example",
    "parse_sequence_example",
    "read_records",
    "write_records",
]
