"""MAP@100,000 of YouTube-8M 2019, each rule of segment_eval_inference.py worked by hand."""

import numpy as np
import pytest

from dlf.core.errors import DlfError
from dlf.data.tfrecord import encode_sequence_example, write_records
from dlf.tasks.yt8m.metric import (
    average_precision,
    evaluate_yt8m,
    read_label_csv,
    read_truth,
    segment_map,
)


def test_average_precision_by_hand():
    # ranked ratings 1, 0, 1 with 2 positives: (1/1 + 2/3) / 2
    assert average_precision([1, 0, 1], 2) == pytest.approx((1 + 2 / 3) / 2)
    # a positive never listed still counts in the denominator: 3 positives, one found first
    assert average_precision([1, 0], 3) == pytest.approx(1 / 3)
    assert average_precision([], 4) == 0.0


def test_unrated_pairs_are_dropped_before_ranking():
    truth = {("a:0", 1): 1.0, ("b:5", 1): 0.0, ("c:10", 1): 1.0}
    # 'x:0' and 'a:5' are unrated for class 1: dropped, so c:10 is at rank 3 (not 5)
    sub = {1: ["x:0", "a:0", "a:5", "b:5", "c:10"]}
    assert segment_map(truth, sub) == pytest.approx((1 / 1 + 2 / 3) / 2)
    # a pair rated for another class only is unrated for this one
    truth2 = {**truth, ("x:0", 2): 1.0}
    assert segment_map(truth2, {1: sub[1], 2: ["x:0"]}) == pytest.approx(((1 + 2 / 3) / 2 + 1) / 2)


def test_top_n_cut_comes_before_dropping_unrated():
    truth = {("a:0", 1): 1.0}
    # with top_n=2 the list is cut to the two unrated ids first: the positive is lost
    assert segment_map(truth, {1: ["u:0", "v:0", "a:0"]}, top_n=2) == 0.0
    assert segment_map(truth, {1: ["u:0", "v:0", "a:0"]}, top_n=3) == 1.0


def test_mean_over_classes_with_positives_and_missing_class_scores_zero():
    truth = {("a:0", 1): 1.0, ("a:0", 2): 1.0, ("b:0", 3): 0.0}  # class 3: no positive
    assert segment_map(truth, {1: ["a:0"], 2: ["a:0"], 3: ["b:0"]}) == 1.0
    assert segment_map(truth, {1: ["a:0"]}) == 0.5  # class 2 missing: AP 0
    assert segment_map(truth, {1: ["a:0"], 2: []}) == 0.5  # empty list: AP 0


def test_rated_twice_keeps_the_last_score(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("a:0,1,1\na:0,1,0\nb:5,1,1\n")
    truth = read_label_csv(labels)
    assert truth == {("a:0", 1): 0.0, ("b:5", 1): 1.0}


def _rated_shard(path, videos):
    recs = []
    for vid, cls, starts, scores in videos:
        ctx = {"id": [vid.encode()], "labels": np.array(sorted(set(cls)), np.int64),
               "segment_labels": np.array(cls, np.int64), "segment_start_times": np.array(starts, np.int64),
               "segment_scores": np.array(scores, np.float32)}  # fmt: skip
        rgb = [[bytes(1024)] for _ in range(10)]
        recs.append(encode_sequence_example(ctx, {"rgb": rgb, "audio": [[bytes(128)]] * 10}))
    write_records(path, recs)


def test_evaluate_from_shards_and_csv_agree(tmp_path):
    truth_dir = tmp_path / "validate"
    truth_dir.mkdir()
    _rated_shard(
        truth_dir / "validate00.tfrecord",
        [("v1", [4, 4], [0, 5], [1, 0]), ("v2", [4, 7], [5, 5], [1, 1])],
    )
    truth = read_truth(truth_dir)
    assert truth == {("v1:0", 4): 1.0, ("v1:5", 4): 0.0, ("v2:5", 4): 1.0, ("v2:5", 7): 1.0}
    sub = tmp_path / "sub.csv"
    sub.write_text("Class,Segments\n4,v1:5 v2:5 v1:0\n7,v2:5\n")
    # class 4: ratings 0,1,1 -> (1/2 + 2/3)/2 ; class 7: 1
    expected = ((1 / 2 + 2 / 3) / 2 + 1) / 2
    assert evaluate_yt8m(sub, truth_dir) == pytest.approx(expected)
    csv = tmp_path / "labels.csv"
    csv.write_text("".join(f"{s},{c},{v}\n" for (s, c), v in truth.items()))
    assert evaluate_yt8m(sub, csv) == pytest.approx(expected)


@pytest.mark.parametrize(
    "body, match",
    [
        ("99,v1:0\n", "unknown class 99"),
        ("4,v1-0\n", "segment id 'v1-0' is not"),
        ("4,v1:3\n", "segment id 'v1:3' is not"),
        ("4,v1:0 v1:0\n", "lists segment v1:0 twice"),
        ("4,v1:0\n4,v1:5\n", "class 4 appears twice"),
        ("x,v1:0\n", "Class is not an integer"),
    ],
)
def test_bad_submissions_are_one_line(tmp_path, body, match):
    labels = tmp_path / "labels.csv"
    labels.write_text("v1:0,4,1\n")
    sub = tmp_path / "sub.csv"
    sub.write_text("Class,Segments\n" + body)
    with pytest.raises(DlfError, match=match) as e:
        evaluate_yt8m(sub, labels)
    assert "\n" not in str(e.value)


def test_start_time_not_multiple_of_five_in_truth(tmp_path):
    _rated_shard(tmp_path / "validate00.tfrecord", [("v1", [4], [7], [1])])
    with pytest.raises(
        DlfError, match=r"record 0: video v1: segment start time 7 is not a multiple of 5"
    ):
        read_truth(tmp_path)


def test_vectorised_validation_map_equals_the_metric():
    """The task's rated_map (validation, vectorised) against segment_map (the metric's rules,
    written pair by pair) on random items: unrated pairs, ties and the top-n cut included."""
    from dlf.tasks.yt8m.task import rated_map

    rng = np.random.default_rng(0)
    for top_n in (100_000, 7):
        scores = rng.integers(0, 5, (40, 3)).astype(np.float32)  # ties: order by item index
        known = (rng.random((40, 3)) < 0.4).astype(np.float32)
        target = ((rng.random((40, 3)) < 0.5) & (known > 0)).astype(np.float32)
        truth = {(f"v{i}:0", c): float(target[i, c]) for i, c in zip(*np.nonzero(known))}
        ranked = {
            c: [f"v{i}:0" for i in np.argsort(-scores[:, c], kind="stable")] for c in range(3)
        }
        assert rated_map(scores, target, known, top_n) == pytest.approx(
            segment_map(truth, ranked, top_n)
        )
