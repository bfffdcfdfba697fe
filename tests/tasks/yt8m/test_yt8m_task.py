"""The YouTube-8M task on tiny synthetic data: the layout it writes, the pieces of training
against direct computations, a whole train -> predict -> evaluate run, and bad input as one
line (exit status 2 from the command line)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlf.cli import main
from dlf.core.errors import DlfError
from dlf.data.table import read_table
from dlf.data.tfrecord import encode_sequence_example, read_records, write_records
from dlf.tasks.base import TrainConfig
from dlf.tasks.runner import evaluate, predict, synth, train
from dlf.tasks.yt8m.files import (
    FEATURES,
    SUBMISSION_HEADER,
    VOCAB_HEADER,
    decode_video,
    dequantize,
    find_shards,
    iter_videos,
    quantize,
)
from dlf.tasks.yt8m.frames import clip_columns
from dlf.tasks.yt8m.task import StageSampler, Yt8mTask, masked_bce

TINY = {"epochs": 2, "bs": 8, "precision": "fp32", "seed": 0}


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("yt8m") / "data"
    synth(Yt8mTask(), folder, 24, seed=0)
    return folder


def test_synth_writes_the_real_layout(tiny):
    for split in ("train", "validate", "test"):
        assert (
            find_shards(tiny, split) and find_shards(tiny, split)[0].name == f"{split}0000.tfrecord"
        )
    assert read_table(tiny / "vocabulary.csv", VOCAB_HEADER)[0] == VOCAB_HEADER
    assert read_table(tiny / "sample_submission.csv", SUBMISSION_HEADER)[0] == SUBMISSION_HEADER
    valid = list(iter_videos(find_shards(tiny, "validate")))
    assert all(v.frames.shape[1] == FEATURES for v in valid)
    rated = [v for v in valid if v.segments is not None and len(v.segments[0])]
    assert rated and all((v.segments[1] % 5 == 0).all() for v in rated)
    test = list(iter_videos(find_shards(tiny, "test")))
    assert all(len(v.labels) == 0 and v.segments is None for v in test)


def test_dequantize_is_the_starter_codes_formula():
    q = np.arange(256, dtype=np.uint8)
    np.testing.assert_allclose(
        dequantize(q), q * 4.0 / 255.0 + 4.0 / 512.0 - 2.0, atol=1e-6
    )  # float32
    # the bias puts each value at the middle of its bin: 0 -> -2 + 4/512, 255 -> 2 + 4/512
    assert dequantize(q)[[0, -1]].tolist() == [-2 + 4 / 512, 2 + 4 / 512]
    np.testing.assert_array_equal(quantize(dequantize(q)), q)


def test_masked_bce_against_torch():
    logits, target = torch.randn(4, 6), (torch.rand(4, 6) > 0.5).float()
    known = torch.ones(4, 6)
    torch.testing.assert_close(
        masked_bce(logits, target, known), F.binary_cross_entropy_with_logits(logits, target)
    )
    known[1:, 2:] = 0  # only the known pairs count
    sel = known.bool()
    torch.testing.assert_close(masked_bce(logits, target, known),
                               F.binary_cross_entropy_with_logits(logits[sel], target[sel]))  # fmt: skip


def test_clip_columns_cut_and_pad_like_slicing():
    frames = np.random.default_rng(0).normal(size=(3, 12, FEATURES)).astype(np.float32)
    cols = clip_columns(frames, np.array([0, 2, 1]), np.array([0, 5, 10]), np.array([12, 5, 2]))
    idx = np.array([1, 2])
    clip, mask = cols["frames"](idx).numpy(), cols["frame_mask"](idx).numpy()
    assert clip.shape == (2, 5, FEATURES)  # padded to this batch's longest clip, not the cache's
    np.testing.assert_array_equal(clip[0], frames[2, 5:10])
    np.testing.assert_array_equal(clip[1, :2], frames[1, 10:12])
    assert (clip[1, 2:] == 0).all() and mask.tolist() == [
        [True] * 5,
        [True, True, False, False, False],
    ]


def test_stage_sampler_switches_and_keeps_its_length():
    is_segment = np.array([False] * 6 + [True] * 4)
    sampler = StageSampler(is_segment)
    torch.manual_seed(0)
    first = sampler.epoch_indices()
    assert len(sampler) == 6 and sorted(first) == list(range(6))
    sampler.finetune = True
    later = sampler.epoch_indices()
    assert len(later) == 6 and set(later) <= set(range(6, 10))
    torch.manual_seed(0)  # the same RNG state at the epoch start draws the same order
    sampler.finetune = False
    assert (sampler.epoch_indices() == first).all()


def test_train_predict_evaluate_end_to_end(tiny, tmp_path):
    task, run = Yt8mTask(), tmp_path / "run"
    result = train(task, TrainConfig(task="yt8m", data=str(tiny), out=str(run), **TINY), quiet=True)
    assert 0.0 <= result["valid"]["map"] <= 1.0
    sub = predict(task, run, None, None)
    _, rows = read_table(sub, SUBMISSION_HEADER)
    test_ids = {
        f"{v.id}:{s}"
        for v in iter_videos(find_shards(tiny, "test"))
        for s in range(0, len(v.frames) - 4, 5)
    }
    assert [int(r["Class"]) for r in rows] == result["fitted"]["rated"]
    assert all(set(r["Segments"].split()) == test_ids for r in rows)  # fewer than 100,000: all
    assert 0.0 <= evaluate(task, sub, truth=tiny / "test_labels.csv") <= 1.0


def _one_video_shard(path, rgb_bytes=1024, with_rgb=True, starts=(0, 5)):
    ctx = {"id": [b"vid1"], "labels": np.array([1]), "segment_labels": np.array([1] * len(starts)),
           "segment_start_times": np.array(starts), "segment_scores": np.array([1.0] * len(starts), np.float32)}  # fmt: skip
    lists = {"audio": [[bytes(128)]] * 10}
    if with_rgb:
        lists["rgb"] = [[bytes(rgb_bytes)]] * 10
    write_records(path, [encode_sequence_example(ctx, lists)])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"with_rgb": False}, r"v.tfrecord: record 0: video vid1 has no 'rgb' frames"),
        (
            {"rgb_bytes": 1000},
            r"v.tfrecord: record 0: frame 0 of 'rgb' is 1000 bytes, expected one 1024-byte",
        ),
        (
            {"starts": (0, 3)},
            r"v.tfrecord: record 0: video vid1: segment start time 3 is not a multiple of 5",
        ),
    ],
)
def test_bad_records_are_one_line(tmp_path, kwargs, match):
    _one_video_shard(tmp_path / "v.tfrecord", **kwargs)
    record = next(read_records(tmp_path / "v.tfrecord"))
    with pytest.raises(DlfError, match=match):
        decode_video(record, f"{tmp_path / 'v.tfrecord'}: record 0")


def _copy_data(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return find_shards(dst, "train")[0]


@pytest.mark.parametrize("damage", ["truncate", "crc"])
def test_damaged_shard_stops_training_with_exit_2(tiny, tmp_path, capsys, damage):
    shard = _copy_data(tiny, tmp_path / "data")
    raw = bytearray(shard.read_bytes())
    if damage == "truncate":
        raw = raw[:-100]
    else:
        raw[200] ^= 0xFF  # a byte inside record 0's data
    shard.write_bytes(bytes(raw))
    argv = [
        "train",
        "yt8m",
        "--data",
        str(tmp_path / "data"),
        "--out",
        str(tmp_path / "run"),
        "--epochs",
        "1",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    want = "truncated record" if damage == "truncate" else "record 0: data CRC mismatch"
    assert len(err) == 1 and shard.name in err[0] and want in err[0]
    if damage == "crc":  # the run can skip it instead, and says how many it skipped
        result = train(Yt8mTask(), TrainConfig(task="yt8m", data=str(tmp_path / "data"), out=str(tmp_path / "run2"),
                                               options={"skip_corrupt": True}, **TINY), quiet=True)  # fmt: skip
        assert "skipped 1 corrupt record" in (tmp_path / "run2" / "log.txt").read_text()
        assert 0.0 <= result["valid"]["map"] <= 1.0


def test_evaluate_cli_prints_map_last_and_refuses_bad_submissions(tiny, tmp_path, capsys):
    sub = tmp_path / "sub.csv"
    sub.write_text("Class,Segments\n999,abcd:0\n")
    assert main(["evaluate", "yt8m", "--truth", str(tiny / "validate"), "--pred", str(sub)]) == 2
    assert "unknown class 999" in capsys.readouterr().err
    sub.write_text("Class,Segments\n0,abcd_0\n")
    assert main(["evaluate", "yt8m", "--truth", str(tiny / "validate"), "--pred", str(sub)]) == 2
    assert "segment id 'abcd_0'" in capsys.readouterr().err
    sub.write_text("Class,Segments\n0,\n")
    assert main(["evaluate", "yt8m", "--truth", str(tiny / "validate"), "--pred", str(sub)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "map 0.000000"


def test_streamed_training_runs_with_worker_processes(tiny, tmp_path):
    task, run = Yt8mTask(), tmp_path / "run"
    opts = {"stream": True, "workers": 2, "buffer": 8}
    cfg = TrainConfig(task="yt8m", data=str(tiny), out=str(run), options=opts, **TINY)
    result = train(task, cfg, quiet=True)
    assert 0.0 <= result["valid"]["map"] <= 1.0
    assert "streaming 6 train shards" in (run / "log.txt").read_text()  # 24 videos, 4 a shard


class _Stopped(Exception):
    pass


class _StopAt:
    order = 99  # after Checkpoint

    def __init__(self, epoch: int, it: int) -> None:
        self.epoch, self.it = epoch, it

    def after_batch(self, learn) -> None:
        if learn.training and (learn.epoch, learn.iter) == (self.epoch, self.it):
            raise _Stopped


def test_streamed_run_resumes_exactly(tiny, tmp_path):
    """Stopped mid-epoch in both streamed epochs and in the fine-tuning one, rebuilt from the
    checkpoint each time: the same losses and weights as the unbroken run (the reference)."""
    from dlf.core.seed import seed_everything
    from dlf.tasks.compose import build_training
    from dlf.train.callbacks import Checkpoint
    from dlf.train.learner import Learner

    task = Yt8mTask()
    opts = {"stream": True, "workers": 2, "buffer": 4, "finetune_epochs": 1}
    cfg = TrainConfig(task="yt8m", data=str(tiny), options=opts, **{**TINY, "epochs": 3, "bs": 4})
    cfg.fill_defaults(task.defaults)

    def run(folder, stops):
        for i, stop in enumerate([*stops, None]):
            seed_everything(0)
            built = build_training(task, cfg, tiny, lambda s: None)
            p = built.parts
            cbs = [Checkpoint(folder, every_steps=1), *built.callbacks, *([stop] if stop else [])]
            learn = Learner(p.model, p.dls, p.loss_func, metrics=p.metrics, precision="fp32",
                            cbs=cbs, logger=lambda s: None)  # fmt: skip
            if i:
                learn.load_checkpoint(folder / "checkpoint" / "state.pt")
            try:
                learn.fit_one_cycle(cfg.epochs, cfg.lr)
            except _Stopped:
                continue
        rows = [{k: v for k, v in r.items() if k != "seconds"} for r in learn.recorder.values]
        return rows, learn.model.state_dict()

    ref_rows, ref_w = run(tmp_path / "ref", [])
    rows, weights = run(tmp_path / "stopped", [_StopAt(0, 1), _StopAt(1, 1), _StopAt(2, 1)])
    assert rows == ref_rows
    for k, w in ref_w.items():
        assert torch.equal(w, weights[k]), k


def test_top_segments_equals_a_full_stable_sort():
    from dlf.tasks.yt8m.task import top_segments

    rng = np.random.default_rng(1)
    scores = rng.integers(0, 20, 500).astype(np.float32)  # many ties
    for n in (1, 7, 100, 500, 900):
        assert top_segments(scores, n).tolist() == np.argsort(-scores, kind="stable")[:n].tolist()
