"""The synthetic Open Images detection dataset: the challenge's real layout and formats
(read back with the csv and json modules, not with dlf's readers), annotations consistent
with the pictures, real class ids, and a dataset a trivial rule cannot solve.

References: the challenge's published file layouts (quoted in the module docstring of
dlf.tasks.oid.synth), the real class list in ../shared/real/oid-detection-2019/ when it is
there, and the EXIF definition of Orientation (tests/data/test_image_orientation.py).
"""

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dlf.core import DlfError
from dlf.data.image import read_oriented, read_pillow
from dlf.tasks.oid.classes import DISPLAY_NAMES, LEAVES, PARENT_OF, PARENTS, ROOT, TREE, hierarchy
from dlf.tasks.oid.synth import image_ids, make_image, split_sizes, synth_oid
from tasks.oid.trivial import trivial_submission

REAL = Path(__file__).resolve().parents[3] / ".." / "shared" / "real" / "oid-detection-2019"
SEED, N, N_TEST = 5, 40, 8
BOX_FILES = {
    "train": "challenge-2019-train-detection-bbox.csv",
    "validation": "challenge-2019-validation-detection-bbox.csv",
    "test": "test-detection-bbox.csv",
}
LABEL_FILES = {
    "train": "challenge-2019-train-detection-human-imagelabels.csv",
    "validation": "challenge-2019-validation-detection-human-imagelabels.csv",
    "test": "test-detection-human-imagelabels.csv",
}
LONG = "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,IsGroupOf,IsDepiction,IsInside"
SHORT = "ImageID,LabelName,XMin,XMax,YMin,YMax,IsGroupOf"
COORD = re.compile(r"(0|1)\.\d{6}")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return synth_oid(tmp_path_factory.mktemp("s") / "oid", n=N, n_test=N_TEST, seed=SEED)


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def boxes(data: Path) -> list[tuple[str, dict]]:
    return [(split, r) for split, name in BOX_FILES.items() for r in rows(data / name)]


def test_exact_layout_and_headers(data):
    assert sorted(p.name for p in data.iterdir()) == sorted(
        [
            "challenge-2019-classes-description-500.csv",
            "challenge-2019-label500-hierarchy.json",
            *BOX_FILES.values(),
            *LABEL_FILES.values(),
            "sample_submission.csv",
            "test",
            "train",
            "validation",
        ]
    )
    first = {name: (data / name).read_text().splitlines()[0] for name in BOX_FILES.values()}
    assert first[BOX_FILES["train"]] == LONG and first[BOX_FILES["test"]] == LONG
    assert first[BOX_FILES["validation"]] == SHORT  # the other layout in circulation
    for name in LABEL_FILES.values():
        assert (data / name).read_text().splitlines()[0] == "ImageID,Source,LabelName,Confidence"
    sample = (data / "sample_submission.csv").read_text().splitlines()
    assert sample[0] == "ImageId,PredictionString"
    assert all(line.endswith(",") and line.count(",") == 1 for line in sample[1:])  # empty
    # every row has its header's number of fields (the csv module, not dlf's reader)
    for name in [*BOX_FILES.values(), *LABEL_FILES.values()]:
        with open(data / name, newline="") as f:
            table = list(csv.reader(f))
        assert {len(r) for r in table} == {len(table[0])}, name


def test_ids_images_and_splits(data):
    sizes = split_sizes(N, N_TEST)
    assert sizes == {"train": 34, "validation": 6, "test": 8}  # 15% of 40 is 6
    ids = image_ids(SEED, N + N_TEST)
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"[0-9a-f]{16}", i) for i in ids)
    start = 0
    for split, count in sizes.items():
        files = sorted(p.name for p in (data / split).iterdir())
        assert files == sorted(f"{i}.jpg" for i in ids[start : start + count])
        start += count
        labelled = {r["ImageID"] for r in rows(data / LABEL_FILES[split])}
        assert labelled == {f[:-4] for f in files}  # every picture has verified labels
        boxed = {r["ImageID"] for r in rows(data / BOX_FILES[split])}
        assert boxed <= labelled
    sample = rows(data / "sample_submission.csv")
    assert [r["ImageId"] for r in sample] == sorted(ids[-N_TEST:])
    assert {r["PredictionString"] for r in sample} == {""}
    sizes_seen, aspects = set(), []
    for p in (data / "train").iterdir():
        with Image.open(p) as im:
            assert im.format == "JPEG" and im.mode == "RGB"
            w, h = im.size
        if Image.open(p).getexif().get(0x0112, 1) in (6, 8):
            w, h = h, w
        assert 160 <= max(w, h) <= 320
        aspects.append(w / h)
        sizes_seen.add((w, h))
    assert len(sizes_seen) > 20 and min(aspects) < 0.85 and max(aspects) > 1.2


def test_boxes_are_valid_and_in_the_csv_order(data):
    for split, r in boxes(data):
        coords = [r["XMin"], r["XMax"], r["YMin"], r["YMax"]]
        assert all(COORD.fullmatch(c) for c in coords), r  # 6 decimals, in [0, 1]
        x0, x1, y0, y1 = map(float, coords)
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1, r
        assert r["LabelName"] in LEAVES
        assert r["IsGroupOf"] in ("0", "1")
        if split != "validation":
            assert r["Source"] == "xclick" and r["Confidence"] == "1"
            flags = [r[k] for k in ("IsOccluded", "IsTruncated", "IsDepiction", "IsInside")]
            assert set(flags) <= {"0", "1"}


def test_the_hard_cases_are_all_there(data):
    all_boxes = [r for _, r in boxes(data)]
    group = [r for r in all_boxes if r["IsGroupOf"] == "1"]
    assert len(group) >= 3
    long_rows = [r for s, r in boxes(data) if s != "validation"]
    assert sum(r["IsOccluded"] == "1" for r in long_rows) >= 5
    assert sum(r["IsTruncated"] == "1" for r in long_rows) >= 5
    area = [
        (float(r["XMax"]) - float(r["XMin"])) * (float(r["YMax"]) - float(r["YMin"]))
        for r in all_boxes
    ]
    assert min(area) < 0.005 and max(area) > 0.05  # small and large objects
    per_image: dict[str, int] = {}
    for r in all_boxes:
        per_image[r["ImageID"]] = per_image.get(r["ImageID"], 0) + 1
    assert max(per_image.values()) >= 4  # several instances per picture
    assert len({r["LabelName"] for r in all_boxes}) == len(LEAVES)


def test_image_labels_agree_with_the_boxes(data):
    """Every boxed class is verified present; no class verified absent has a box, a parent
    verified absent has no box of any of its leaves; there are negatives, and parents."""
    negatives = parent_negatives = 0
    for split in BOX_FILES:
        boxed: dict[str, set[str]] = {}
        for r in rows(data / BOX_FILES[split]):
            boxed.setdefault(r["ImageID"], set()).add(r["LabelName"])
        labels: dict[str, dict[str, str]] = {}
        for r in rows(data / LABEL_FILES[split]):
            assert r["Source"] == "verification" and r["Confidence"] in ("0", "1")
            assert r["LabelName"] in DISPLAY_NAMES
            labels.setdefault(r["ImageID"], {})[r["LabelName"]] = r["Confidence"]
        for image, verified in labels.items():
            present = boxed.get(image, set())
            assert all(verified.get(leaf) == "1" for leaf in present), image
            for label, conf in verified.items():
                if conf == "1":
                    leaves = (
                        [label] if label in LEAVES else [x for x in LEAVES if PARENT_OF[x] == label]
                    )
                    assert set(leaves) & present, (image, label)
                else:
                    negatives += 1
                    parent_negatives += label in PARENTS
                    assert label not in present and all(PARENT_OF[x] != label for x in present)
    assert negatives >= N and parent_negatives >= 2


def test_classes_and_hierarchy_files(data):
    with open(data / "challenge-2019-classes-description-500.csv", newline="") as f:
        classes = list(csv.reader(f))
    assert classes[0] != ["LabelName", "DisplayName"]  # no header, as the real file
    assert dict(classes) == DISPLAY_NAMES and len(classes) == 16
    tree = json.loads((data / "challenge-2019-label500-hierarchy.json").read_text())
    assert tree == hierarchy() and tree["LabelName"] == ROOT
    assert [p["LabelName"] for p in tree["Subcategory"]] == list(PARENTS)
    for parent in tree["Subcategory"]:
        kids = [c["LabelName"] for c in parent["Subcategory"]]
        assert kids == [x for x in LEAVES if PARENT_OF[x] == parent["LabelName"]]
        assert all(set(c) == {"LabelName"} for c in parent["Subcategory"])  # leaves: no key
    assert len(PARENTS) == 4 and len(LEAVES) == 12 and all(len(v) == 3 for v in TREE.values())


def test_class_ids_and_names_are_the_challenges():
    real = REAL / "classes-description-500.from-labelmap.csv"
    if not real.is_file():
        pytest.skip(f"{real} is not here")
    with open(real, newline="") as f:
        names = dict(csv.reader(f))
    assert len(names) == 500
    for label, name in DISPLAY_NAMES.items():
        assert names.get(label) == name, label
    assert ROOT not in names  # the root "Entity" is not one of the 500 classes


def test_exif_turned_pictures_show_their_boxes_only_when_turned(data):
    """Pictures stored turned (Orientation 3, 6, 8): read_oriented gives the picture that
    was annotated (the scene, regenerated from the seed), the stored pixels do not; and
    judged from the file alone, the boxes sit on textured objects: the mean Laplacian
    energy inside a box beats the picture's mean for nearly every box when read turned,
    for about half (chance) when read as stored."""
    ids = image_ids(SEED, N + N_TEST)
    splits = [s for s, c in split_sizes(N, N_TEST).items() for _ in range(c)]
    box_rows: dict[str, list[dict]] = {}
    for _, r in boxes(data):
        box_rows.setdefault(r["ImageID"], []).append(r)
    turned, right, wrong = 0, [], []
    for k, image_id in enumerate(ids):
        path = data / splits[k] / f"{image_id}.jpg"
        with Image.open(path) as im:
            orientation = im.getexif().get(0x0112, 1)
        if orientation == 1:
            continue
        assert orientation in (3, 6, 8)
        turned += 1
        scene, _, _ = make_image(SEED, k)
        shown, stored = read_oriented(path), read_pillow(path)
        assert shown.shape == scene.image.shape
        # JPEG (quality 80-95) loses the sensor noise: a few levels, against tens of
        # levels for the same pixels half a turn off
        err = np.abs(shown.astype(int) - scene.image).mean()
        assert err < 12 and err < np.abs(shown[::-1, ::-1].astype(int) - scene.image).mean() / 3
        if stored.shape == shown.shape:  # half a turn keeps the shape, not the picture
            assert np.abs(stored.astype(int) - scene.image).mean() > 3 * err
        for r in box_rows.get(image_id, []):
            if r["IsGroupOf"] == "0":
                right.append(_texture_inside(shown, r) > 1)
                wrong.append(_texture_inside(stored, r) > 1)
        for b, m in zip(scene.boxes, scene.masks, strict=True):  # tight: touches all 4 sides
            H, W = m.shape
            sub = m[round(b.ymin * H) : round(b.ymax * H), round(b.xmin * W) : round(b.xmax * W)]
            tight = sub[0].any() and sub[-1].any() and sub[:, 0].any() and sub[:, -1].any()
            assert tight and sub.mean() > 0.1
    assert turned >= 3 and len(right) >= 8
    assert np.mean(right) >= 0.9 and np.mean(wrong) <= 0.75


def _texture_inside(image: np.ndarray, r: dict) -> float:
    """Mean |Laplacian| of the luminance inside the box over its mean over the picture."""
    lum = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    lap = np.zeros_like(lum)
    lap[1:-1, 1:-1] = np.abs(
        4 * lum[1:-1, 1:-1] - lum[:-2, 1:-1] - lum[2:, 1:-1] - lum[1:-1, :-2] - lum[1:-1, 2:]
    )
    H, W = lap.shape
    x0, x1, y0, y1 = (float(r[k]) for k in ("XMin", "XMax", "YMin", "YMax"))
    inside = lap[
        round(y0 * H) : max(round(y0 * H) + 1, round(y1 * H)),
        round(x0 * W) : max(round(x0 * W) + 1, round(x1 * W)),
    ]
    return float(inside.mean() / lap.mean())


def test_same_seed_same_bytes_other_seed_other_data(tmp_path, data):
    again = synth_oid(tmp_path / "again", n=N, n_test=N_TEST, seed=SEED)
    for p in data.rglob("*"):
        if p.is_file():
            assert (again / p.relative_to(data)).read_bytes() == p.read_bytes(), p
    other = synth_oid(tmp_path / "other", n=N, n_test=N_TEST, seed=SEED + 1)
    assert (other / BOX_FILES["train"]).read_bytes() != (data / BOX_FILES["train"]).read_bytes()


def test_refuses_a_folder_with_files_and_leaves_it_alone(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(DlfError, match="not an empty folder"):
        synth_oid(tmp_path, n=2, n_test=1)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
    with pytest.raises(DlfError, match="need n >= 2"):
        synth_oid(tmp_path / "new", n=1, n_test=1)
    empty = tmp_path / "empty"
    empty.mkdir()
    synth_oid(empty, n=2, n_test=1)
    assert (empty / BOX_FILES["train"]).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "keep.txt"]  # no temp left


def test_the_trivial_rule_can_match_almost_nothing(data):
    """An upper bound on the trivial rule's mAP without the metric: it puts one
    whole-picture box per verified class and picture, so a class's recall (which bounds
    its AP) is at most the share of its boxes that a whole-picture box can match: IoU >=
    0.5 with an ordinary box (its area >= half the picture), IoA >= 0.5 with a group-of box
    (IoA = intersection over the detection's area = the group box's area). Parents get
    their leaves' boxes (the metric's expansion), with the same geometry."""
    sub = trivial_submission(data / "test", data / LABEL_FILES["test"])
    assert [r[0] for r in sub] == sorted(p.stem for p in (data / "test").glob("*.jpg"))
    assert all(len(r[1].split()) % 6 == 0 for r in sub)
    assert any(r[1] for r in sub)
    matchable: dict[str, list[bool]] = {}
    for _, r in boxes(data):
        area = (float(r["XMax"]) - float(r["XMin"])) * (float(r["YMax"]) - float(r["YMin"]))
        for label in (r["LabelName"], PARENT_OF[r["LabelName"]]):
            matchable.setdefault(label, []).append(area >= 0.5)
    bound = np.mean([np.mean(v) for v in matchable.values()])
    assert len(matchable) == 16 and bound < 0.05
