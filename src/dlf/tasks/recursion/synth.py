"""A synthetic RxRx1 dataset in the competition's real layout, made to need a model.

What it imitates (https://www.rxrx.ai/rxrx1, the Kaggle data page):
- four cell types (HEPG2, HUVEC, RPE, U2OS) with their own cell size and stain levels;
- experiments with a batch effect: a gain and offset per channel, a background texture and a
  noise level of their own, plus a smaller per-plate gain. It moves per-channel statistics
  far more than the siRNAs do, so a rule on intensities fails on a new experiment;
- siRNA-specific morphology: each siRNA gives the cells one pattern (puncta, a ring at the
  membrane, a bright central spot or a diffuse halo) in two of the channels w2..w6; every
  pattern carries the same total intensity, so only its shape tells the siRNAs apart. Not
  every cell shows it (penetrance 70%);
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
PATTERNS = ("puncta", "ring", "spot", "halo")
# the ten pairs of channels w2..w6 (0-based 1..5) that can carry a siRNA's pattern
CHANNEL_PAIRS = [(a, b) for a in range(1, 6) for b in range(a + 1, 6)]
CELL_RADIUS = {"HEPG2": 3.2, "HUVEC": 4.2, "RPE": 3.7, "U2OS": 4.8}  # pixels at 64 px
WELLS = [f"{r}{c:02d}" for r in "BCDEFGHIJKLMNO" for c in range(2, 24)]


def sirna_signature(sirna: int) -> tuple[tuple[int, int], int]:
    """(channel pair, pattern) of a siRNA: 40 distinct combinations, repeating after that."""
    k = sirna % (len(CHANNEL_PAIRS) * len(PATTERNS))
    return CHANNEL_PAIRS[k // len(PATTERNS)], k % len(PATTERNS)


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
        if sirna >= N_SIRNAS and sirna != N_CLASSES - 1:  # a positive control: strong, everywhere
            pattern = _pattern(POSITIVES.index(sirna), cx, cy, r, xx, yy, d2, rng)
            img[1:] += 2.0 * pattern
        elif sirna < N_SIRNAS and rng.random() < 0.7:  # penetrance: not every cell shows it
            (a, b), kind = sirna_signature(sirna)
            pattern = _pattern(kind, cx, cy, r, xx, yy, d2, rng)
            img[a] += pattern
            img[b] += pattern
    smooth = _smooth_noise(rng, size, 4) * batch["texture"]
    img = img * (batch["stain"] * plate_gain)[:, None, None] + smooth[None]
    img = batch["offset"][:, None, None] + batch["gain"][:, None, None] * img
    img += rng.normal(0, batch["noise"], img.shape).astype(np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8).transpose(1, 2, 0)


def _pattern(kind, cx, cy, r, xx, yy, d2, rng) -> np.ndarray:
    """One cell's pattern, scaled to the same total intensity whatever its shape."""
    if kind == 0:  # puncta: a few small dots inside the cell
        p = np.zeros_like(xx)
        for _ in range(5):
            a, rad = rng.uniform(0, 2 * np.pi), r * rng.uniform(0, 0.8)
            px, py = cx + rad * np.cos(a), cy + rad * np.sin(a)
            p += np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / (2 * (0.12 * r + 0.35) ** 2))
    elif kind == 1:  # a ring at the membrane
        p = np.exp(-((np.sqrt(d2) - 1.1 * r) ** 2) / (2 * (0.15 * r + 0.3) ** 2))
    elif kind == 2:  # one bright central spot
        p = np.exp(-d2 / (2 * (0.3 * r) ** 2))
    else:  # a diffuse halo well beyond the cell
        p = np.exp(-d2 / (2 * (1.9 * r) ** 2))
    return p * (40 * r * r / max(float(p.sum()), 1e-6))


def _smooth_noise(rng, size: int, cells: int) -> np.ndarray:
    """A smooth random field: a coarse grid of values, resized bicubically."""
    coarse = rng.normal(0, 1, (cells, cells)).astype(np.float32)
    img = Image.fromarray(coarse, "F").resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(img)


__all__ = ["CHANNEL_PAIRS", "PATTERNS", "sirna_signature", "site_image", "synth_recursion"]
