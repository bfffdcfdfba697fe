"""Reading and writing the SIIM-ACR competition files, and every bad input a person can make."""

import numpy as np
import pytest

from dlf.core import DlfError
from dlf.tasks.siim.files import (
    find_dicoms,
    match_dicoms,
    read_dicom,
    read_submission,
    read_train_rle,
    write_submission,
)
from dlf.tasks.siim.synth import dicom_bytes

ID1 = "1.2.276.0.7230010.3.1.4.8323329.1000.1517875165.878027"
ID2 = "1.2.276.0.7230010.3.1.4.8323329.10001.1517875220.930580"


def write(path, text):
    path.write_text(text)
    return path


def test_train_rle_with_space_header_and_instances(tmp_path):
    # The real file: "ImageId, EncodedPixels", empty masks " -1", one row per instance.
    csv = write(
        tmp_path / "train-rle.csv",
        f"ImageId, EncodedPixels\n{ID1}, -1\n{ID2}, 0 2\n{ID2}, 5 1\n",
    )
    labels = read_train_rle(csv, 4, 4)
    assert labels == {ID1: [], ID2: ["0 2", "5 1"]}


def test_train_rle_accepts_submission_style_header(tmp_path):
    csv = write(tmp_path / "t.csv", f"ImageId,EncodedPixels\n{ID1},-1\n{ID2},3 4\n\n")
    assert read_train_rle(csv, 4, 4) == {ID1: [], ID2: ["3 4"]}


@pytest.mark.parametrize("header", ["ImageId,Mask", "id, EncodedPixels", "ImageId", ""])
def test_wrong_header_names_found_and_expected(tmp_path, header):
    csv = write(tmp_path / "train-rle.csv", f"{header}\n{ID1},-1\n")
    with pytest.raises(
        DlfError, match=r"train-rle.csv line 1: header has columns .* expected \['ImageId'"
    ):
        read_train_rle(csv)


def test_malformed_rle_names_file_and_line(tmp_path):
    csv = write(tmp_path / "train-rle.csv", f"ImageId, EncodedPixels\n{ID1}, -1\n{ID2}, 1 2 3\n")
    with pytest.raises(DlfError, match=r"train-rle.csv line 3: .*odd count"):
        read_train_rle(csv)
    write(csv, f"ImageId, EncodedPixels\n{ID2}, 10 7\n")
    with pytest.raises(DlfError, match=r"train-rle.csv line 2: run 1 .*past the image end"):
        read_train_rle(csv, 4, 4)


def test_wrong_field_count_names_the_line(tmp_path):
    csv = write(tmp_path / "train-rle.csv", f"ImageId, EncodedPixels\n{ID1}, -1, extra\n")
    with pytest.raises(DlfError, match=r"train-rle.csv line 2 .*: 3 fields"):
        read_train_rle(csv)


@pytest.mark.parametrize("bad", ["../etc/passwd", "a/b", "a\\b", "x..y", ""])
def test_ids_that_could_escape_the_folder_are_refused(tmp_path, bad):
    csv = write(tmp_path / "sub.csv", f"ImageId,EncodedPixels\n{ID1},-1\n{bad},-1\n")
    with pytest.raises(DlfError, match=r"sub.csv line 3: ImageId"):
        read_submission(csv)
    with pytest.raises(DlfError, match="path separator"):
        write_submission(tmp_path / "out.csv", [(bad, "-1")])


def test_missing_file_is_a_dlf_error(tmp_path):
    with pytest.raises(DlfError, match=r"nope\.csv: file not found"):
        read_train_rle(tmp_path / "nope.csv")


def test_submission_round_trip_and_exact_text(tmp_path):
    out = tmp_path / "submission.csv"
    write_submission(out, [(ID1, "-1"), (ID2, "3 4 1 1"), ("img3", "")])
    assert out.read_text() == f"ImageId,EncodedPixels\n{ID1},-1\n{ID2},3 4 1 1\nimg3,-1\n"
    assert read_submission(out, 4, 4) == {ID1: "-1", ID2: "3 4 1 1", "img3": "-1"}


def test_submission_duplicates_are_refused(tmp_path):
    csv = write(tmp_path / "sub.csv", f"ImageId,EncodedPixels\n{ID1},-1\n{ID2},-1\n{ID1},0 1\n")
    with pytest.raises(DlfError, match=rf"sub.csv line 4 .*ImageId '{ID1}' repeats line 2"):
        read_submission(csv)
    with pytest.raises(DlfError, match="given twice"):
        write_submission(tmp_path / "out.csv", [(ID1, "-1"), (ID1, "-1")])
    assert not (tmp_path / "out.csv").exists()  # nothing half-written


def test_write_submission_checks_rle_syntax(tmp_path):
    with pytest.raises(DlfError, match=rf"out.csv: RLE for {ID1}: .*odd count"):
        write_submission(tmp_path / "out.csv", [(ID1, "1 2 3")])


def save_dicom(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    path.write_bytes(dicom_bytes(image, "1.2.3", "1.2.4", path.stem, rng))


def test_find_read_and_match_dicoms(tmp_path):
    image = (np.arange(48).reshape(6, 8) * 5).astype(np.uint8)
    save_dicom(tmp_path / "train" / "s1" / "r1" / f"{ID1}.dcm", image)
    save_dicom(tmp_path / "train" / "s2" / "r2" / f"{ID2}.dcm", image[::-1])
    found = find_dicoms(tmp_path / "train")
    assert sorted(found) == sorted([ID1, ID2])
    pixels = read_dicom(found[ID1])
    assert pixels.dtype == np.uint8 and (pixels == image).all()
    assert match_dicoms([ID2, ID1], found, "train-rle.csv") == [found[ID2], found[ID1]]
    with pytest.raises(DlfError, match=r"train-rle.csv: ImageId 9.9 has no 9.9.dcm"):
        match_dicoms([ID1, "9.9"], found, "train-rle.csv")


def test_find_dicoms_bad_folders(tmp_path):
    with pytest.raises(DlfError, match="no such folder"):
        find_dicoms(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DlfError, match=r"no \.dcm files"):
        find_dicoms(tmp_path / "empty")
    image = np.zeros((4, 4), np.uint8)
    save_dicom(tmp_path / "dup" / "a" / "1.2.3.9.dcm", image)
    save_dicom(tmp_path / "dup" / "b" / "1.2.3.9.dcm", image)
    with pytest.raises(DlfError, match=r"ImageId 1\.2\.3\.9 also at"):
        find_dicoms(tmp_path / "dup")


def test_unreadable_dicom_and_dicom_without_pixels(tmp_path):
    junk = write(tmp_path / "junk.dcm", "this is not a DICOM file at all")
    with pytest.raises(DlfError, match=r"junk.dcm: not a readable DICOM"):
        read_dicom(junk)
    import pydicom

    ds = pydicom.dcmread(_one_dicom(tmp_path))
    del ds.PixelData
    ds.save_as(tmp_path / "nopix.dcm")
    with pytest.raises(DlfError, match=r"nopix.dcm: the DICOM file has no pixel data"):
        read_dicom(tmp_path / "nopix.dcm")


def _one_dicom(tmp_path):
    path = tmp_path / "one" / "1.2.3.5.dcm"
    save_dicom(path, np.zeros((4, 4), np.uint8))
    return path
