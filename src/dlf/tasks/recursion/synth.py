"""A synthetic RxRx1 dataset in the competition's real layout, made to need a model.

What it imitates (https://www.rxrx.ai/rxrx1, the Kaggle data page):
- four cell types (HEPG2, HUVEC, RPE, U2OS) with their own cell size and stain levels;
- experiments with a batch effect: a gain and offset per channel, a background texture and a
  noise level of their own, plus a smaller per-plate gain. It moves per-channel statistics
  far more than the siRNAs do, so a rule on intensities fails on a new experiment;
- siRNA-specific morphology: each siRNA gives every channel w2..w6 one of four patterns
  (one spot at the nucleus, one spot off it, two or four spots around it), a code of five
  patterns per siRNA; the patterns have the same total intensity and about the same sum
  of squares, so only their layout tells them apart. Not every cell shows it (penetrance
  85%) and its strength varies from cell to cell;
- the plate layout: the siRNAs fall into four groups, each plate of an experiment holds one
  group (each siRNA once per plate, once per experiment), rotated between experiments;
  every plate also has one negative control (1138) and two positive controls (1108-1111,
  a strong pattern in all five channels).

Experiments -01..-03 of each cell type are training data, -04 is the test set, whose answer
key (test_labels.csv, in train.csv's layout) Kaggle kept private; `dlf evaluate` reads it.
"""

import os
from pathlib import Path

import numpy as np
from PIL import Image

from dlf.core import DlfError, atomic_folder
from dlf.data.table import write_table
from dlf.tasks.common import progress
from dlf.tasks.recursion.files import (
    CELL_TYPES,
    CHANNELS,
    CONTROL_HEADER,
    N_CLASSES,
    N_SIRNAS,
    PLATES,
    SITES,
    TEST_HEADER,
    TRAIN_HEADER,
    Well,
    write_submission,
)

NEGATIVE = N_CLASSES - 1  # 1138
POSITIVES = (N_SIRNAS, N_SIRNAS + 1, N_SIRNAS + 2, N_SIRNAS + 3)  # 1108..1111
PATTERNS = ("central spot", "off-centre spot", "two spots", "four spots")
CELL_RADIUS = {"HEPG2": 3.2, "HUVEC": 4.2, "RPE": 3.7, "U2OS": 4.8}  # pixels at 64 px
PATTERN_MASS = 60  # a pattern's total intensity per r^2 (a cell body's is about 300)
PENETRANCE = 0.85  # the share of cells that show their siRNA's pattern
WELLS = [f"{r}{c:02d}" for r in "BCDEFGHIJKLMNO" for c in range(2, 24)]


def sirna_signature(sirna: int) -> tuple[int, ...]:
    """The pattern (0-3) a siRNA gives each of the channels w2..w6: a code of five base-4
    digits; 397 is odd, so codes of siRNAs 0..1023 are all different."""
    code = (sirna * 397 + 11) % 4**5
    return tuple((code >> (2 * k)) & 3 for k in range(5))


def synth_recursion(
    folder: str | os.PathLike,
    n_sirnas: int = 40,
    train_experiments: int = 3,
    test_experiments: int = 1,
    size: int = 64,
    seed: int = 0,
    cell_types: tuple[str, ...] = CELL_TYPES,
) -> Path:
    """Write the CSVs and PNGs of a small RxRx1 into a new folder (atomically; same seed, same
    bytes). n_sirnas: siRNAs in use (0..n-1), a multiple of 4 (one group per plate);
    cell_types: a subset of CELL_TYPES for a smaller dataset."""
    if n_sirnas < 4 or n_sirnas % 4 or n_sirnas > N_SIRNAS:
        raise DlfError(f"n_sirnas={n_sirnas}: need a multiple of 4 between 4 and {N_SIRNAS}")
    if size < 16:
        raise DlfError(f"size={size}: images need at least 16 px to show cells")
    rng = np.random.default_rng(seed)
    per_plate = n_sirnas // 4
    with atomic_folder(folder) as tmp:
        tables: dict[str, list] = {
            "train": [],
            "test": [],
            "train_controls": [],
            "test_controls": [],
        }
        jobs = []
        for cell in cell_types:
            for e in range(1, train_experiments + test_experiments + 1):
                split = "train" if e <= train_experiments else "test"
                experiment = f"{cell}-{e:02d}"
                batch = _batch_effect(rng)
                shift = int(rng.integers(4))  # which group each plate gets, rotated per experiment
                for plate in PLATES:
                    group = (plate - 1 + shift) % 4
                    sirnas = list(range(group * per_plate, (group + 1) * per_plate))
                    controls = [NEGATIVE, *rng.choice(POSITIVES, 2, replace=False).tolist()]
                    plate_gain = rng.uniform(0.88, 1.12, CHANNELS)
                    positions = rng.choice(len(WELLS), len(sirnas) + len(controls), replace=False)
                    for j, s in enumerate(rng.permutation(sirnas).tolist() + controls):
                        w = Well(f"{experiment}_{plate}_{WELLS[positions[j]]}", experiment, plate,
                                 WELLS[positions[j]], s, s >= N_SIRNAS)  # fmt: skip
                        key = f"{split}_controls" if w.control else split
                        tables[key].append(w)
                        jobs.append((w, split, batch, plate_gain, int(rng.integers(2**31))))
        for w, split, batch, plate_gain, well_seed in progress(jobs, len(jobs), "synth recursion"):
            well_rng = np.random.default_rng(well_seed)
            for site in SITES:
                image = site_image(w.sirna, w.cell_type, batch, plate_gain, size, well_rng)
                files = w.site_files(tmp, split, site)
                files[0].parent.mkdir(parents=True, exist_ok=True)
                for c, f in enumerate(files):
                    Image.fromarray(image[..., c]).save(f)
        _write_tables(tmp, tables)
    return Path(folder)


def _write_tables(folder: Path, tables: dict[str, list]) -> None:
    def rows(wells, with_sirna, with_type):
        for w in wells:
            row = [w.id_code, w.experiment, w.plate, w.well]
            row += [w.sirna] if with_sirna else []
            kind = "negative_control" if w.sirna == NEGATIVE else "positive_control"
            yield row + ([kind] if with_type else [])

    write_table(folder / "train.csv", TRAIN_HEADER, rows(tables["train"], True, False))
    write_table(folder / "test.csv", TEST_HEADER, rows(tables["test"], False, False))
    for split in ("train", "test"):
        key = f"{split}_controls"
        write_table(folder / f"{key}.csv", CONTROL_HEADER, rows(tables[key], True, True))
    write_table(folder / "test_labels.csv", TRAIN_HEADER, rows(tables["test"], True, False))
    write_submission(folder / "sample_submission.csv", [w.id_code for w in tables["test"]],
                     [0] * len(tables["test"]))  # fmt: skip


def _batch_effect(rng: np.random.Generator) -> dict:
    """One experiment's microscope and staining: gain, offset, background texture, noise."""
    return {
        "gain": np.exp(rng.uniform(np.log(0.5), np.log(1.9), CHANNELS)),
        "offset": rng.uniform(4, 40, CHANNELS),
        "texture": rng.uniform(2, 14),  # amplitude of a smooth background pattern
        "noise": rng.uniform(2, 9),
        "stain": rng.uniform(0.8, 1.25, CHANNELS),  # how strongly each dye binds, this time
    }


def site_image(
    sirna: int,
    cell_type: str,
    batch: dict,
    plate_gain: np.ndarray,
    size: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """One site, size x size x 6 uint8: cells with the siRNA's pattern, under the batch effect."""
    scale = size / 64
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    img = np.zeros((CHANNELS, size, size), np.float32)
    r0 = CELL_RADIUS[cell_type] * scale
    cell_level = 40 + 10 * CELL_TYPES.index(cell_type)  # cell types differ in stain uptake too
    n_cells = int(rng.integers(6, 15))
    for _ in range(n_cells):
        cx, cy = rng.uniform(0, size, 2)
        r = r0 * rng.uniform(0.8, 1.2)
        d2 = (xx - cx) ** 2 + (yy - cy) ** 2
        img[0] += 140 * np.exp(-d2 / (2 * (0.55 * r) ** 2))  # w1: the nucleus (Hoechst)
        body = np.exp(-d2 / (2 * r**2))
        img[1:] += cell_level * rng.uniform(0.7, 1.3, (CHANNELS - 1, 1, 1)) * body
        if sirna >= N_SIRNAS and sirna != N_CLASSES - 1:  # a positive control: one pattern, strong
            img[1:] += 2.0 * _pattern(POSITIVES.index(sirna), cx, cy, r, xx, yy, rng)
        elif sirna < N_SIRNAS and rng.random() < PENETRANCE:  # not every cell shows it
            for c, kind in enumerate(sirna_signature(sirna), start=1):
                img[c] += rng.uniform(0.6, 1.4) * _pattern(kind, cx, cy, r, xx, yy, rng)
    smooth = _smooth_noise(rng, size, 4) * batch["texture"]
    img = img * (batch["stain"] * plate_gain)[:, None, None] + smooth[None]
    img = batch["offset"][:, None, None] + batch["gain"][:, None, None] * img
    img += rng.normal(0, batch["noise"], img.shape).astype(np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8).transpose(1, 2, 0)


def _pattern(kind, cx, cy, r, xx, yy, rng) -> np.ndarray:
    """One cell's pattern: 1 spot at the nucleus, 1 spot off it, 2 or 4 spots around it.
    Each has the same total intensity and (the spots' widths chosen for it) about the same
    sum of squares, so per-channel means and standard deviations hardly tell them apart:
    where the spots sit, and how many, does."""
    n, dist = ((1, 0.0), (1, 1.0), (2, 0.7), (4, 0.7))[kind]
    sigma = 0.35 * r / np.sqrt(n)  # n spots of mass 1/n: energy n (1/n)^2 / sigma^2 stays put
    p = np.zeros_like(xx)
    a0 = rng.uniform(0, 2 * np.pi)
    for k in range(n):
        a = a0 + 2 * np.pi * k / n
        px, py = cx + dist * r * np.cos(a), cy + dist * r * np.sin(a)
        p += np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / (2 * sigma**2))
    return p * (PATTERN_MASS * r * r / max(float(p.sum()), 1e-6))


def _smooth_noise(rng, size: int, cells: int) -> np.ndarray:
    """A smooth random field: a coarse grid of values, resized bicubically."""
    coarse = rng.normal(0, 1, (cells, cells)).astype(np.float32)
    img = Image.fromarray(coarse, "F").resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(img)


__all__ = ["PATTERNS", "sirna_signature", "site_image", "synth_recursion"]
