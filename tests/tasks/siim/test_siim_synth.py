"""The synthetic SIIM-ACR dataset: the competition's exact layout, real DICOMs, decodable masks."""

import numpy as np
import pydicom
import pytest
from pydicom.uid import UID

from dlf.core import DlfError
from dlf.tasks.siim import (
    chest_radiograph,
    evaluate_siim,
    find_dicoms,
    read_dicom,
    read_submission,
    read_train_rle,
    rle_decode_union,
    rle_encode,
    synth_siim,
    write_submission,
)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return synth_siim(tmp_path_factory.mktemp("siim"), n=10, n_test=4, seed=3, size=64)


def test_layout_and_headers(data):
    names = sorted(p.name for p in data.iterdir())
    assert names == [
        "dicom-images-test",
        "dicom-images-train",
        "stage_2_sample_submission.csv",
        "test-rle-truth.csv",
        "train-rle.csv",
    ]
    train_lines = (data / "train-rle.csv").read_text().splitlines()
    assert train_lines[0] == "ImageId, EncodedPixels"
    assert all(", " in line for line in train_lines[1:])
    assert any(line.endswith(", -1") for line in train_lines)
    assert (data / "test-rle-truth.csv").read_text().startswith("ImageId, EncodedPixels\n")
    sample = (data / "stage_2_sample_submission.csv").read_text().splitlines()
    assert sample[0] == "ImageId,EncodedPixels"
    assert len(sample) == 5 and all(line.endswith(",-1") for line in sample[1:])
    for split, n in (("train", 10), ("test", 4)):
        files = sorted((data / f"dicom-images-{split}").rglob("*"))
        dcm = [p for p in files if p.is_file()]
        assert len(dcm) == n  # nothing else in the image folders
        for p in dcm:  # <study>/<series>/<ImageId>.dcm
            assert p.suffix == ".dcm"
            assert p.relative_to(data / f"dicom-images-{split}").parts.__len__() == 3


def test_ids_match_between_csvs_and_dicoms(data):
    train = read_train_rle(data / "train-rle.csv", 64, 64)
    truth = read_train_rle(data / "test-rle-truth.csv", 64, 64)
    sample = read_submission(data / "stage_2_sample_submission.csv", 64, 64)
    assert set(train) == set(find_dicoms(data / "dicom-images-train"))
    assert set(truth) == set(sample) == set(find_dicoms(data / "dicom-images-test"))
    assert not set(train) & set(truth)


def test_dicoms_are_real_and_masks_fit(data):
    labels = read_train_rle(data / "train-rle.csv", 64, 64)
    for image_id, path in find_dicoms(data / "dicom-images-train").items():
        ds = pydicom.dcmread(path)
        assert ds.SOPInstanceUID == image_id
        assert image_id.startswith("1.2.276.0.7230010.3.1.4.8323329.")
        assert ds.StudyInstanceUID == path.parent.parent.name
        assert ds.SeriesInstanceUID == path.parent.name
        for uid in (ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID):
            assert UID(uid).is_valid
        assert ds.file_meta.MediaStorageSOPInstanceUID == image_id
        assert ds.PhotometricInterpretation == "MONOCHROME2"
        assert (ds.BitsAllocated, ds.Rows, ds.Columns, ds.Modality) == (8, 64, 64, "CR")
        pixels = read_dicom(path)
        assert pixels.shape == (64, 64) and pixels.dtype == np.uint8
        assert pixels.std() > 10  # an image, not a blank
        mask = rle_decode_union(labels[image_id], 64, 64)
        assert mask.shape == (64, 64)
        assert mask.any() == bool(labels[image_id])


def test_scoring_the_truth_and_the_sample_submission(data, tmp_path):
    truth = data / "test-rle-truth.csv"
    sample = evaluate_siim(truth, data / "stage_2_sample_submission.csv", 64, 64)
    assert sample["dice"] == pytest.approx(sample["empty_share"])  # all-empty scores the empties
    # the truth has one row per instance; as a submission each image's union is one row
    rows = [
        (k, rle_encode(rle_decode_union(v, 64, 64)))
        for k, v in read_train_rle(truth, 64, 64).items()
    ]
    write_submission(tmp_path / "perfect.csv", rows)
    assert evaluate_siim(truth, tmp_path / "perfect.csv", 64, 64)["dice"] == 1.0


def test_same_seed_same_dataset(tmp_path):
    a = synth_siim(tmp_path / "a", n=3, n_test=1, seed=5, size=48)
    b = synth_siim(tmp_path / "b", n=3, n_test=1, seed=5, size=48)
    assert (a / "train-rle.csv").read_text() == (b / "train-rle.csv").read_text()
    da, db = find_dicoms(a / "dicom-images-train"), find_dicoms(b / "dicom-images-train")
    assert all((read_dicom(da[k]) == read_dicom(db[k])).all() for k in da)


def test_share_of_positives_and_instances():
    labels = [len(chest_radiograph(np.random.default_rng([11, i]), 48)[1]) for i in range(100)]
    positive = np.mean([k > 0 for k in labels])
    assert 0.12 < positive < 0.4  # about a quarter
    assert max(labels) >= 2  # some images have several instances


def test_the_cue_is_subtle_not_a_black_blob():
    """Inside a crescent the film is a little darker than the lung just beside it, not black."""
    seen = 0
    for i in range(40):
        image, instances = chest_radiograph(np.random.default_rng([4, i]), 128)
        if not instances:
            continue
        seen += 1
        mask = np.logical_or.reduce(instances)
        inside = image[mask].astype(float)
        assert inside.std() > 2  # texture and noise, not a flat fill
        assert inside.mean() > np.percentile(image, 2)  # not the darkest thing on the film
    assert seen >= 4


def test_real_size_one_image(tmp_path):
    data = synth_siim(tmp_path, n=1, n_test=0, seed=0)
    (path,) = find_dicoms(data / "dicom-images-train").values()
    assert read_dicom(path).shape == (1024, 1024)
    labels = read_train_rle(data / "train-rle.csv")
    assert rle_decode_union(next(iter(labels.values()))).shape == (1024, 1024)


def test_bad_arguments():
    with pytest.raises(DlfError, match="synth siim"):
        synth_siim("/tmp/never", n=0)
