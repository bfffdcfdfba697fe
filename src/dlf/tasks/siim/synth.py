"""A synthetic SIIM-ACR dataset in the competition's exact layout, with real DICOM files.

    FOLDER/dicom-images-train/<StudyUID>/<SeriesUID>/<ImageId>.dcm   8-bit MONOCHROME2 DICOM
    FOLDER/dicom-images-test/...
    FOLDER/train-rle.csv                  ImageId, EncodedPixels  (" -1" when empty)
    FOLDER/test-rle-truth.csv             the same for the test images (NOT a competition file:
                                          it lets `dlf evaluate siim` score a submission)
    FOLDER/stage_2_sample_submission.csv  ImageId,EncodedPixels, all -1

Each image is a frontal chest radiograph drawn from smooth fields: soft tissue, two dark
lungs with vessel markings fanning out from the hila, a bright mediastinum and heart,
posterior and anterior ribs and clavicles, then a random exposure curve and noise. About
a quarter of the images get one to three pneumothoraces: crescents along a lung's outer or
apical edge where the lung has fallen away from the chest wall. Inside a crescent the
markings vanish and the film is darker; a thin bright line (the visceral pleura, about
3 px at 1024) bounds it on the lung side. That is the radiologist's cue, and it takes a
model to see it.
Everything is vectorised numpy over the whole image (no per-pixel loops).
"""

import io
import zlib
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage

from dlf.core import DlfError, atomic_write_bytes, atomic_write_text
from dlf.tasks.common import progress
from dlf.tasks.siim.files import write_submission
from dlf.tasks.siim.rle import rle_encode

UID_ROOT = "1.2.276.0.7230010.3.1"  # the competition's root; .2 study, .3 series, .4 instance
UID_SITE = "8323329"
POSITIVE_SHARE = 0.25


def synth_siim(
    folder: str | Path, n: int = 200, n_test: int = 50, seed: int = 0, size: int = 1024
) -> Path:
    """Write `n` training and `n_test` test images with their labels into `folder`."""
    if n < 1 or n_test < 0 or size < 32:
        raise DlfError(
            f"synth siim: need n >= 1, n_test >= 0, size >= 32 (got {n}, {n_test}, {size})"
        )
    folder = Path(folder)
    uids = _uids(np.random.default_rng([seed, 2]), n + n_test)
    for split, ids, csv_name in (
        ("train", uids[:n], "train-rle.csv"),
        ("test", uids[n:], "test-rle-truth.csv"),
    ):
        lines = ["ImageId, EncodedPixels"]
        for i, (study, series, image_id) in enumerate(progress(ids, len(ids), f"{split} images")):
            rng = np.random.default_rng([seed, 0 if split == "train" else 1, i])
            image, instances = chest_radiograph(rng, size)
            path = folder / f"dicom-images-{split}" / study / series / f"{image_id}.dcm"
            atomic_write_bytes(path, dicom_bytes(image, study, series, image_id, rng))
            rles = [rle_encode(m) for m in instances] or ["-1"]
            lines += [f"{image_id}, {rle}" for rle in rles]  # one row per instance
        atomic_write_text(folder / csv_name, "\n".join(lines) + "\n")
    write_submission(folder / "stage_2_sample_submission.csv", [(u[2], "-1") for u in uids[n:]])
    return folder


def chest_radiograph(rng: np.random.Generator, size: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """One (size, size) uint8 radiograph and the bool mask of each pneumothorax in it."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / np.float32(size)
    # The patient: a little off centre, scaled and tilted.
    scale, tilt = rng.uniform(0.9, 1.05), rng.uniform(-0.06, 0.06)
    x0, y0 = 0.5 + rng.normal(0, 0.02), 0.5 + rng.normal(0, 0.02)
    cos, sin = float(np.cos(tilt)) / scale, float(np.sin(tilt)) / scale
    u = (x - x0) * cos - (y - y0) * sin
    v = (x - x0) * sin + (y - y0) * cos + 0.5

    body = _inside(np.hypot(u / (0.5 + 0.08 * np.clip(v, 0, 1)), (v - 0.65) / 0.65), 0.03)
    film = 0.1 + 0.5 * body
    film += 0.22 * np.exp(-((u / 0.055) ** 4)) * _inside((v - 0.5) / 0.5, 0.05)  # spine
    heart = _inside(np.hypot((u - 0.07) / 0.15, (v - 0.64) / 0.13), 0.05)

    # Two lungs, each in polar coordinates around its centre: angle 0 points to the chest
    # wall, -pi/2 to the apex; `rho` is 1 on the lung's edge.
    lungs, markings, pneumo = [], [], []
    n_instances = 0
    if rng.random() < POSITIVE_SHARE:
        n_instances = rng.choice([1, 2, 3], p=[0.7, 0.22, 0.08])
    sides = rng.choice([-1, 1], size=n_instances)
    for side in (-1, 1):
        cx, cy = side * rng.uniform(0.19, 0.22), rng.uniform(0.43, 0.47)
        rx, ry = rng.uniform(0.14, 0.17), rng.uniform(0.25, 0.29)
        du, dv = (u - cx) * side, v - cy
        phi = np.arctan2(dv, du)
        wobble = 1 + 0.04 * np.sin(2 * phi + rng.uniform(0, 6.3)) + 0.03 * np.sin(3 * phi)
        widen = 1 + 0.22 * np.clip(dv / ry, -1, 1)  # lungs are broader at the base
        rho = np.hypot(du / (rx * widen), dv / ry) / wobble
        lung = _inside(rho, 0.03) * (1 - heart * (side > 0))
        vessels = _vessel_fan(rng, u * side - 0.07, v - 0.48, size)
        lungs.append(lung)
        markings.append(vessels * lung)
        taken: list[tuple[float, float]] = []  # (centre, half-width) of crescents on this lung
        for _ in range((sides == side).sum()):
            crescent = _pneumothorax(rng, rho, phi, ry * size, rx * size, taken)
            if crescent is not None:
                pneumo.append(crescent)

    lung_field = np.maximum(lungs[0], lungs[1])
    film -= lung_field * (0.3 + 0.06 * _smooth_noise(rng, size, 6))
    film += 0.13 * heart
    vessel_map = markings[0] + markings[1]
    hollow = np.zeros_like(film)  # 1 inside a pneumothorax
    for soft, line, darker in pneumo:
        hollow = np.maximum(hollow, soft)
        film += 0.09 * line - darker * soft
    film += 0.11 * vessel_map * (1 - hollow)
    film += _ribs(rng, u, v) * body
    film += 0.025 * _smooth_noise(rng, size, 24) + 0.012 * _smooth_noise(rng, size, 96)

    # Exposure and detector: a random tone curve, then quantum noise.
    gamma, gain, offset = rng.uniform(0.75, 1.35), rng.uniform(0.85, 1.2), rng.uniform(-0.06, 0.06)
    film = np.clip(film, 0, 1) ** gamma * gain + offset
    film += rng.standard_normal((size, size), dtype=np.float32) * rng.uniform(0.008, 0.03)
    image = (np.clip(film, 0, 1) * 255 + 0.5).astype(np.uint8)
    return image, [soft > 0.5 for soft, _, _ in pneumo]


def _pneumothorax(rng, rho, phi, lung_px, side_px, taken):
    """A crescent between the lung edge (rho = 1) and the fallen-away lung, or None."""
    small = rng.random() < 0.35
    half = rng.uniform(0.2, 0.4) if small else rng.uniform(0.45, 1.1)  # angular half-width
    for _ in range(10):  # find a stretch of edge not already used on this lung
        centre = rng.uniform(-2.1, 0.5)  # from beyond the apex round to the lower chest wall
        if all(abs(centre - c) > half + h for c, h in taken):
            break
    else:
        return None
    depth = rng.uniform(0.05, 0.1) if small else rng.uniform(0.1, 0.35)
    depth = max(depth, 4 / lung_px)  # at least a few pixels thick at any size
    a = _wrap(phi - centre) / half
    thick = depth * np.clip(1 - a * a, 0, None) ** 0.7
    soft = ((rho < 1) & (rho > 1 - thick)).astype(np.float32)
    if soft.sum() < 8:
        return None
    # The visceral pleura is 1-2 mm thick on the film: about 3 px at 1024 (0.168 mm/px).
    line_width = 3.0 / side_px
    line = np.exp(-(((rho - (1 - thick)) / line_width) ** 2)) * (thick > 0) * (rho < 1)
    taken.append((centre, half))
    return soft, line, rng.uniform(0.06, 0.11)


def _vessel_fan(rng, du, dv, size):
    """Lung markings: tapering vessel segments fanning out from the hilum at (du, dv) = 0."""
    r = np.hypot(du, dv)
    theta = np.arctan2(dv, du)
    # Tabulate intensity over (angle, distance) once, then look each pixel up in the table.
    n_theta, n_r, r_max, k = min(720, 2 * size), min(64, size // 2), 0.45, 70
    angles = np.linspace(-np.pi, np.pi, n_theta, dtype=np.float32)[:, None, None]
    dist = np.linspace(0, r_max, n_r, dtype=np.float32)[None, :, None]
    # Mostly towards the chest wall (angle 0), some up and down, few into the mediastinum.
    base = rng.normal(0, 1.1, k).astype(np.float32)
    bend = rng.normal(0, 1.5, k).astype(np.float32)
    reach = rng.uniform(0.08, r_max, k).astype(np.float32)  # where each branch fades out
    width = rng.uniform(0.002, 0.005, k).astype(np.float32) * np.clip(1 - dist / reach, 0.15, 1)
    along = _wrap(angles - base - bend * dist * dist)
    fade = np.clip(1 - dist / reach, 0, 1)
    table = (np.exp(-((along * np.maximum(dist, 0.02) / width) ** 2)) * fade).sum(-1)
    ti = ((theta + np.pi) / (2 * np.pi) * (n_theta - 1) + 0.5).astype(np.intp)
    ri = np.minimum(r / r_max * (n_r - 1) + 0.5, n_r - 1).astype(np.intp)
    return np.minimum(table[ti, ri], 1.5)


def _ribs(rng, u, v):
    """Posterior ribs sloping down to the sides, fainter anterior ribs, and the clavicles."""
    au = np.abs(u)
    thorax = _inside(np.hypot(u / 0.43, (v - 0.47) / 0.36), 0.04)
    spacing = rng.uniform(0.07, 0.085)
    post = v - 0.25 * au - 0.7 * au * au
    posterior = _band(np.cos(2 * np.pi * post / spacing + rng.uniform(0, 6.3)), 0.35)
    ant = v + 0.3 * au
    anterior = _band(np.cos(2 * np.pi * ant / (1.3 * spacing) + rng.uniform(0, 6.3)), 0.6)
    clavicle = np.exp(-(((v - 0.16 - 0.12 * au) / 0.015) ** 2)) * _inside(
        np.abs(au - 0.2) / 0.16, 0.1
    )
    strength = rng.uniform(0.07, 0.13)
    return thorax * (strength * posterior + 0.4 * strength * anterior) + 0.12 * clavicle


def _wrap(angle):
    """An angle difference brought into [-pi, pi)."""
    return angle - np.float32(2 * np.pi) * np.round(angle * np.float32(1 / (2 * np.pi)))


def _band(c, level):
    return 0.5 + 0.5 * np.tanh((c - level) * 6)


def _inside(r, softness):
    """About 1 where r < 1 and 0 outside, with a smooth edge `softness` wide."""
    return (0.5 - 0.5 * np.tanh((r - 1) / (2 * softness))).astype(np.float32)


def _smooth_noise(rng, size, cells):
    """Noise with features about size/cells wide: a coarse grid, bilinearly upsampled."""
    coarse = rng.standard_normal((cells + 1, cells + 1)).astype(np.float32)
    pos = np.linspace(0, cells, size, dtype=np.float32)
    i0 = np.minimum(pos.astype(np.intp), cells - 1)
    f = pos - i0
    rows = coarse[i0] * (1 - f)[:, None] + coarse[i0 + 1] * f[:, None]
    return rows[:, i0] * (1 - f) + rows[:, i0 + 1] * f


def _uids(rng, count):
    """(study, series, instance) UIDs in the competition's style, all distinct."""
    numbers = rng.choice(np.arange(1000, 20000), size=count, replace=False)
    out = []
    for k in numbers:
        stamp, tail = rng.integers(1517875000, 1517876000), rng.integers(100000, 999998)
        stem = f"{UID_SITE}.{k}.{stamp}"
        out.append(
            (
                f"{UID_ROOT}.2.{stem}.{tail}",
                f"{UID_ROOT}.3.{stem}.{tail - 1}",
                f"{UID_ROOT}.4.{stem}.{tail + 1}",
            )
        )
    return out


def dicom_bytes(image: np.ndarray, study: str, series: str, instance: str, rng) -> bytes:
    """A complete DICOM file (preamble, meta, dataset) holding one 8-bit greyscale image."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, instance
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.PatientID = ds.PatientName = f"synth-{zlib.crc32(instance.encode()):08x}"
    ds.PatientAge, ds.PatientSex = f"{rng.integers(18, 90):03d}Y", str(rng.choice(["M", "F"]))
    ds.Modality, ds.BodyPartExamined = "CR", "CHEST"
    ds.ViewPosition = str(rng.choice(["PA", "AP"]))
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.PixelSpacing = [0.168 * 1024 / image.shape[0]] * 2
    ds.Rows, ds.Columns = image.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = np.ascontiguousarray(image, dtype=np.uint8).tobytes()
    out = io.BytesIO()
    pydicom.dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()
