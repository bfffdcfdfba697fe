"""dlf.data.tfrecord against independent references: the messages that the `protobuf`
package builds from TensorFlow's published feature.proto / example.proto (descriptors made
here, field for field from the .proto text), a pure-Python bitwise CRC-32C, and byte
fixtures worked out by hand from the protobuf wire-format rules."""

import struct

import numpy as np
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from dlf.core.errors import DlfError
from dlf.data.tfrecord import (
    ReadStats,
    encode_example,
    encode_sequence_example,
    frame_record,
    masked_crc32c,
    parse_example,
    parse_sequence_example,
    read_records,
    write_records,
)

# -- the reference: tensorflow/core/example/feature.proto and example.proto -----------------

F = descriptor_pb2.FieldDescriptorProto


def _field(
    msg, name, number, type_, label=F.LABEL_OPTIONAL, type_name=None, packed=None, oneof=None
):
    f = msg.field.add(name=name, number=number, type=type_, label=label)
    if type_name:
        f.type_name = type_name
    if packed is not None:
        f.options.packed = packed
    if oneof is not None:
        f.oneof_index = oneof
    return f


def _map_field(msg, name, value_type_name):
    entry = msg.nested_type.add(name=name[0].upper() + name[1:].replace("_l", "L") + "Entry")
    entry.options.map_entry = True
    _field(entry, "key", 1, F.TYPE_STRING)
    _field(entry, "value", 2, F.TYPE_MESSAGE, type_name=value_type_name)
    _field(msg, name, 1, F.TYPE_MESSAGE, F.LABEL_REPEATED, f".tensorflow.{msg.name}.{entry.name}")


def _tf_messages():
    fd = descriptor_pb2.FileDescriptorProto(
        name="dlf_test_tf_example.proto", package="tensorflow", syntax="proto3"
    )
    rep = F.LABEL_REPEATED
    m = fd.message_type.add(name="BytesList")
    _field(m, "value", 1, F.TYPE_BYTES, rep)
    m = fd.message_type.add(name="FloatList")
    _field(m, "value", 1, F.TYPE_FLOAT, rep, packed=True)
    m = fd.message_type.add(name="Int64List")
    _field(m, "value", 1, F.TYPE_INT64, rep, packed=True)
    m = fd.message_type.add(name="Feature")
    m.oneof_decl.add(name="kind")
    _field(m, "bytes_list", 1, F.TYPE_MESSAGE, type_name=".tensorflow.BytesList", oneof=0)
    _field(m, "float_list", 2, F.TYPE_MESSAGE, type_name=".tensorflow.FloatList", oneof=0)
    _field(m, "int64_list", 3, F.TYPE_MESSAGE, type_name=".tensorflow.Int64List", oneof=0)
    _map_field(fd.message_type.add(name="Features"), "feature", ".tensorflow.Feature")
    m = fd.message_type.add(name="FeatureList")
    _field(m, "feature", 1, F.TYPE_MESSAGE, rep, ".tensorflow.Feature")
    _map_field(fd.message_type.add(name="FeatureLists"), "feature_list", ".tensorflow.FeatureList")
    m = fd.message_type.add(name="Example")
    _field(m, "features", 1, F.TYPE_MESSAGE, type_name=".tensorflow.Features")
    m = fd.message_type.add(name="SequenceExample")
    _field(m, "context", 1, F.TYPE_MESSAGE, type_name=".tensorflow.Features")
    _field(m, "feature_lists", 2, F.TYPE_MESSAGE, type_name=".tensorflow.FeatureLists")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return {n: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"tensorflow.{n}"))
            for n in ("SequenceExample", "Example")}  # fmt: skip


TF = _tf_messages()


def _fill(feature, value):
    if isinstance(value, list) and all(isinstance(v, bytes) for v in value):
        feature.bytes_list.SetInParent()
        feature.bytes_list.value.extend(value)
    elif np.asarray(value).dtype.kind == "f":
        feature.float_list.SetInParent()
        feature.float_list.value.extend(np.asarray(value, np.float32).tolist())
    else:
        feature.int64_list.SetInParent()
        feature.int64_list.value.extend(int(v) for v in value)


def reference_sequence_example(context, feature_lists) -> bytes:
    msg = TF["SequenceExample"]()
    for k, v in context.items():
        _fill(msg.context.feature[k], v)
    for k, steps in feature_lists.items():
        fl = msg.feature_lists.feature_list[k]
        for s in steps:
            _fill(fl.feature.add(), s)
    return msg.SerializeToString(deterministic=True)


def _same_feature(a, b):
    if isinstance(b, list):
        assert isinstance(a, list) and a == b
    else:
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)


def video_like(rng, frames=7):
    context = {
        "id": [b"Ab3d"],
        "labels": np.array([3, 0, 3861, -5, 2**40], np.int64),
        "segment_start_times": np.array([0, 5, 150], np.int64),
        "segment_scores": np.array([1.0, 0.0, 0.25, -1e-30, np.inf], np.float32),
        "empty_bytes": [],
        "empty_floats": np.zeros(0, np.float32),
    }
    lists = {
        "rgb": [[rng.integers(0, 256, 1024, dtype=np.uint8).tobytes()] for _ in range(frames)],
        "audio": [[rng.integers(0, 256, 128, dtype=np.uint8).tobytes()] for _ in range(frames)],
        "z_floats": [np.array([0.5, -2], np.float32), np.zeros(0, np.float32)],
        "multi": [[b"a", b"bc"], [], [b""], [b"x" * 300]],  # off the one-value fast path
    }
    return context, lists


def test_sequence_example_bytes_equal_protobuf_both_ways():
    rng = np.random.default_rng(0)
    context, lists = video_like(rng)
    ours = encode_sequence_example(context, lists)
    ref = reference_sequence_example(context, lists)
    assert ours == ref  # our writer = protobuf's deterministic serialisation
    parsed = parse_sequence_example(ref)  # our reader on protobuf's bytes
    assert set(parsed.context) == set(context) and set(parsed.feature_lists) == set(lists)
    for k, v in context.items():
        _same_feature(parsed.context[k], v)
    for k, steps in lists.items():
        assert len(parsed.feature_lists[k]) == len(steps)
        for a, b in zip(parsed.feature_lists[k], steps):
            _same_feature(a, b)
    back = TF["SequenceExample"].FromString(ours)  # protobuf reads ours, field for field
    assert list(back.context.feature["labels"].int64_list.value) == context["labels"].tolist()
    assert (
        back.feature_lists.feature_list["rgb"].feature[3].bytes_list.value[0] == lists["rgb"][3][0]
    )
    assert back.context.feature["empty_floats"].HasField("float_list")


def test_example_round_trip_against_protobuf():
    feats = {
        "id": [b"x"],
        "mean_rgb": np.arange(4, dtype=np.float32),
        "labels": np.array([7], np.int64),
    }
    msg = TF["Example"]()
    for k, v in feats.items():
        _fill(msg.features.feature[k], v)
    assert encode_example(feats) == msg.SerializeToString(deterministic=True)
    for k, v in parse_example(msg.SerializeToString()).items():
        _same_feature(v, feats[k])


def test_reader_accepts_unpacked_scalars_and_unknown_fields():
    # a proto2-style writer may send repeated scalars unpacked; unknown fields are skipped
    msg = TF["SequenceExample"]()
    msg.context.feature["x"].int64_list.value.extend([1, -1])
    buf = msg.SerializeToString()
    # hand-made: Int64List{value: 5 (unpacked varint), value: 300 (varint)} in Feature field 3
    ints = bytes([0x08, 0x05, 0x08, 0xAC, 0x02])
    floats = bytes([0x0D]) + struct.pack("<f", 1.5)  # FloatList{value: 1.5} unpacked (I32)
    unknown = bytes([0x78, 0x01, 0x82, 0x01, 0x01, 0xFF])  # field 15 varint, field 16 bytes
    feat_i = bytes([0x1A, len(ints)]) + ints
    feat_f = bytes([0x12, len(floats)]) + floats + unknown

    def entry(key, feat):
        body = bytes([0x0A, len(key)]) + key + bytes([0x12, len(feat)]) + feat
        return bytes([0x0A, len(body)]) + body

    features = entry(b"i", feat_i) + entry(b"f", feat_f)
    hand = bytes([0x0A, len(features)]) + features + unknown
    parsed = parse_sequence_example(hand)
    assert parsed.context["i"].tolist() == [5, 300]
    assert parsed.context["f"].tolist() == [1.5]
    ref = TF["SequenceExample"].FromString(hand)  # the reference agrees on the same bytes
    assert list(ref.context.feature["i"].int64_list.value) == [5, 300]
    assert parse_sequence_example(buf).context["x"].tolist() == [1, -1]


def test_hand_worked_bytes():
    # Feature{int64_list{value:[1, 300]}} inside Features{"a": ...}:
    # int64 list packed: 0a 03 01 ac 02 (300 = 0b10_0101100 -> ac 02); feature: 1a 05 <that>
    # (7 bytes); map entry: 0a 01 61 12 07 <feature> (12 bytes); Features: 0a 0c <entry>
    # (14 bytes); Example: 0a 0e <Features>
    expected = bytes.fromhex("0a0e" + "0a0c" + "0a0161" + "1207" + "1a05" + "0a0301ac02")
    assert encode_example({"a": [1, 300]}) == expected
    assert parse_example(expected)["a"].tolist() == [1, 300]


# -- CRC and framing ----------------------------------------------------------------------------


def crc32c_bitwise(data: bytes) -> int:
    """CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), one bit at a time."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked_reference(data: bytes) -> int:
    crc = crc32c_bitwise(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def test_crc32c_matches_bitwise_reference_and_the_standard_check_value():
    assert crc32c_bitwise(b"123456789") == 0xE3069283  # the CRC-32C check value (RFC 3720)
    rng = np.random.default_rng(1)
    for n in (0, 1, 8, 63, 1000):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert masked_crc32c(data) == masked_reference(data)


def test_framing_by_hand(tmp_path):
    data = b"hello"
    length = struct.pack("<Q", 5)
    expected = (
        length
        + struct.pack("<I", masked_reference(length))
        + data
        + struct.pack("<I", masked_reference(data))
    )
    assert frame_record(data) == expected
    path = tmp_path / "a.tfrecord"
    assert write_records(path, [b"", data, b"x" * 70000]) == 3
    assert list(read_records(path)) == [b"", data, b"x" * 70000]


def _shard(tmp_path, n=4):
    path = tmp_path / "train0000.tfrecord"
    write_records(path, [bytes([i]) * (10 + i) for i in range(n)])
    return path


def test_truncated_shard_names_file_and_record(tmp_path):
    path = _shard(tmp_path)
    raw = path.read_bytes()
    path.write_bytes(raw[:-3])
    with pytest.raises(DlfError, match=r"train0000.tfrecord: record 3: truncated record"):
        list(read_records(path))
    stats = ReadStats()
    assert len(list(read_records(path, skip_corrupt=True, stats=stats))) == 3
    assert stats.skipped == 1


def test_crc_mismatch_is_reported_or_skipped(tmp_path):
    path = _shard(tmp_path)
    raw = bytearray(path.read_bytes())
    second = 12 + 10 + 4  # start of record 1
    raw[second + 12] ^= 0xFF  # one data byte of record 1
    path.write_bytes(bytes(raw))
    with pytest.raises(DlfError, match=r"record 1: data CRC mismatch"):
        list(read_records(path))
    stats = ReadStats()
    out = list(read_records(path, skip_corrupt=True, stats=stats))
    assert [r[0] for r in out] == [0, 2, 3] and stats.skipped == 1
    raw[second] ^= 0x01  # now the length of record 1 is corrupt too: nothing after it frames
    path.write_bytes(bytes(raw))
    with pytest.raises(DlfError, match=r"record 1: length CRC mismatch"):
        list(read_records(path))


def test_malformed_message_is_one_line():
    with pytest.raises(DlfError, match=r"s.tfrecord: record 2: not a valid SequenceExample"):
        parse_sequence_example(b"\x0a\x05\x0a", where="s.tfrecord: record 2")
    with pytest.raises(DlfError, match="not a valid"):
        parse_sequence_example(b"\x0b")  # wire type 3 (groups) is not in these messages


def test_frames_fast_path_equals_the_generic_decoding():
    rng = np.random.default_rng(3)
    context, lists = video_like(rng, frames=9)
    lists["tiny"] = [[bytes([i] * 5)] for i in range(4)]  # one-byte lengths in the headers
    ex = parse_sequence_example(reference_sequence_example(context, lists))
    for name, width in (("rgb", 1024), ("audio", 128), ("tiny", 5)):
        expected = np.frombuffer(b"".join(s[0] for s in lists[name]), np.uint8).reshape(-1, width)
        fresh = parse_sequence_example(reference_sequence_example(context, lists))
        np.testing.assert_array_equal(fresh.frames(name, width), expected)  # strided path
        np.testing.assert_array_equal(ex.frames(name, width), expected)
    assert (
        ex.frames("multi", 1) is None
        and ex.frames("rgb", 1000) is None
        and ex.frames("nope", 3) is None
    )
    # a step whose Feature carries an extra (unknown) field 15 defeats the strided path,
    # not the answer: item = 0a 0a [0a 06 [0a 04 <4 bytes>] 78 01]
    steps = b"".join(b"\x0a\x0a\x0a\x06\x0a\x04" + bytes([i] * 4) + b"\x78\x01" for i in range(3))
    entry = b"\x0a\x01f\x12" + bytes([len(steps)]) + steps
    lists_msg = b"\x0a" + bytes([len(entry)]) + entry
    odd = b"\x12" + bytes([len(lists_msg)]) + lists_msg
    assert TF["SequenceExample"].FromString(odd).feature_lists.feature_list["f"].feature[
        2
    ].bytes_list.value[0] == bytes([2] * 4)
    assert parse_sequence_example(odd).frames("f", 4).tolist() == [[0] * 4, [1] * 4, [2] * 4]
