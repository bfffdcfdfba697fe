"""A synthetic Open Images 2019 detection dataset in the challenge's real layout.

    FOLDER/challenge-2019-classes-description-500.csv   LabelName,DisplayName (no header)
    FOLDER/challenge-2019-label500-hierarchy.json       nested LabelName / Subcategory
    FOLDER/train/<ImageID>.jpg, validation/..., test/...
    FOLDER/challenge-2019-train-detection-bbox.csv       13 columns
    FOLDER/challenge-2019-validation-detection-bbox.csv  the 7-column layout (it circulates
                                                         in both; readers must take both)
    FOLDER/challenge-2019-{train,validation}-detection-human-imagelabels.csv
    FOLDER/sample_submission.csv                         ImageId,PredictionString (empty)
    FOLDER/test-detection-bbox.csv, test-detection-human-imagelabels.csv
                                   the test answer key Kaggle kept, for `dlf evaluate oid`

What is in a picture. Each leaf class is a shape worn with a texture: the shape says the
parent (Fruit a disc, Toy a diamond, Drink a bottle, Flower a star) and the texture says
which leaf (the first leaf of every parent is striped, the second dotted, the third
checkered), so neither cue alone names a leaf, and the leaves of one parent share what
you see first. Colours are drawn afresh for every object and say nothing. Around the
objects: a blotchy background with lines and outlines, and distractors of no class
(triangles, crosses, rings, hexagons wearing the same textures, and the class shapes in a
plain or speckled fill), so a detector has to read shape and texture together.

What the annotations hold, as in the real files. Boxes are tight around the visible
pixels (Open Images boxes come from clicks on the visible extreme points). Objects may be
small, partly hidden by a later object (IsOccluded=1, at most 40% hidden) or cut by the
border (IsTruncated=1, at least half inside). Some pictures have a group: five or more
small objects of one class under one IsGroupOf=1 box and no box of their own. Image labels
verify every class present (Confidence 1) and some absent ones (Confidence 0, sometimes a
parent, which the metric pushes down to its leaves). Some pictures have no object at all.
JPEGs vary in size (long side 160-320 px) and aspect (0.6-1.6), and some are stored turned
with an EXIF Orientation tag (3, 6 or 8): the boxes are in the displayed picture, so only a
reader that honours the tag (`dlf.data.image.read_oriented`) sees them in place.
"""

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from dlf.core import DlfError, atomic_folder, atomic_write_text
from dlf.data.table import write_table
from dlf.tasks.common import progress
from dlf.tasks.oid.classes import DISPLAY_NAMES, LEAVES, PARENT_OF, PARENTS, TREE, hierarchy

BOX_HEADER = (
    "ImageID", "Source", "LabelName", "Confidence", "XMin", "XMax", "YMin", "YMax",
    "IsOccluded", "IsTruncated", "IsGroupOf", "IsDepiction", "IsInside",
)  # fmt: skip
BOX_HEADER_SHORT = ("ImageID", "LabelName", "XMin", "XMax", "YMin", "YMax", "IsGroupOf")
LABEL_HEADER = ("ImageID", "Source", "LabelName", "Confidence")
SUBMISSION_HEADER = ("ImageId", "PredictionString")
FILES = {
    "classes": "challenge-2019-classes-description-500.csv",
    "hierarchy": "challenge-2019-label500-hierarchy.json",
    "train_boxes": "challenge-2019-train-detection-bbox.csv",
    "train_labels": "challenge-2019-train-detection-human-imagelabels.csv",
    "validation_boxes": "challenge-2019-validation-detection-bbox.csv",
    "validation_labels": "challenge-2019-validation-detection-human-imagelabels.csv",
    "test_boxes": "test-detection-bbox.csv",
    "test_labels": "test-detection-human-imagelabels.csv",
    "sample_submission": "sample_submission.csv",
}
VALIDATION_SHARE = 0.15  # of n, the rest is train

PARENT_SHAPES = ("disc", "diamond", "bottle", "star")  # Fruit, Toy, Drink, Flower
LEAF_TEXTURES = ("stripes", "dots", "checker")  # first, second, third leaf of a parent
DISTRACTOR_SHAPES = ("triangle", "cross", "ring", "hexagon")
DISTRACTOR_FILLS = ("plain", "speckle")
SHAPE_OF = {leaf: PARENT_SHAPES[PARENTS.index(PARENT_OF[leaf])] for leaf in LEAVES}
TEXTURE_OF = {
    leaf: LEAF_TEXTURES[i] for leaves in TREE.values() for i, (leaf, _) in enumerate(leaves)
}

ROTATED_SHARE = 0.15  # pictures stored turned, with an EXIF Orientation tag
GROUP_SHARE = 0.2  # pictures with a group-of cluster
EMPTY_SHARE = 0.06  # pictures with no object of any class
MAX_HIDDEN = 0.4  # an annotated object keeps at least 60% of its pixels visible
MIN_INSIDE = 0.5  # a truncated object keeps at least half of itself inside the picture


@dataclass
class Box:
    """One annotated box, coordinates normalised to the displayed picture."""

    label: str
    xmin: float
    xmax: float
    ymin: float
    ymax: float
    occluded: bool = False
    truncated: bool = False
    group_of: bool = False


@dataclass
class Scene:
    """One displayed picture (H, W, 3 uint8), its boxes, its verified image labels, and
    each annotated thing's visible pixels (for tests: the object under a box is there)."""

    image: np.ndarray | None
    boxes: list[Box]
    positives: list[str]
    negatives: list[str]
    masks: list[np.ndarray] = field(default_factory=list)  # one per box, bool (H, W)


def synth_oid(folder: str | os.PathLike, n: int = 1000, n_test: int = 200, seed: int = 0) -> Path:
    """Write `n` labelled pictures (about 85% train, 15% validation) and `n_test` test
    pictures with their answer key into `folder`, in the challenge's layout (module
    docstring). The folder must be new or empty; everything is built in a temporary folder
    beside it and renamed into place, so an interrupted run leaves nothing half-written.
    Same seed, same bytes."""
    with atomic_folder(folder) as tmp:
        if n < 2 or n_test < 1:
            raise DlfError(
                f"n={n}, n_test={n_test}: need n >= 2 (train and validation), n_test >= 1"
            )
        _write_all(tmp, n, n_test, seed)
    return Path(folder)


def split_sizes(n: int, n_test: int) -> dict[str, int]:
    """How many pictures each split gets: validation is 15% of n (at least one)."""
    n_val = min(n - 1, max(1, round(VALIDATION_SHARE * n)))
    return {"train": n - n_val, "validation": n_val, "test": n_test}


def image_ids(seed: int, count: int) -> list[str]:
    """`count` distinct ImageIDs like the real ones: 16 lowercase hex digits. Picture k of
    the dataset (train first, then validation, then test) gets the k-th."""
    rng = np.random.default_rng([seed, 1 << 20])
    ids: list[str] = []
    seen: set[str] = set()
    while len(ids) < count:
        i = rng.bytes(8).hex()
        if i not in seen:
            seen.add(i)
            ids.append(i)
    return ids


def make_image(seed: int, k: int) -> tuple[Scene, int, bytes]:
    """Picture k of the dataset: its scene, the EXIF Orientation it is stored with (1: as
    displayed), and the JPEG file's bytes."""
    rng = np.random.default_rng([seed, k])
    scene = draw_scene(rng)
    orientation = int(rng.choice([3, 6, 8])) if rng.random() < ROTATED_SHARE else 1
    stored = _stored_pixels(scene.image, orientation)
    buffer = io.BytesIO()
    options: dict = {"quality": int(rng.integers(80, 96))}
    if orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = orientation
        options["exif"] = exif.tobytes()
    Image.fromarray(stored).save(buffer, format="JPEG", **options)
    return scene, orientation, buffer.getvalue()


def _stored_pixels(displayed: np.ndarray, orientation: int) -> np.ndarray:
    """The pixels to store so that a viewer turning them by `orientation` shows
    `displayed`: 3 is half a turn; 6 means "turn clockwise to view", so store it turned
    counter-clockwise; 8 the other way round."""
    turns = {1: 0, 3: 2, 6: 1, 8: -1}[orientation]  # np.rot90: positive is counter-clockwise
    return np.ascontiguousarray(np.rot90(displayed, turns))


def _write_all(root: Path, n: int, n_test: int, seed: int) -> None:
    classes = io.StringIO()  # no header line, as the real file
    csv.writer(classes, lineterminator="\n").writerows(DISPLAY_NAMES.items())
    atomic_write_text(root / FILES["classes"], classes.getvalue())
    atomic_write_text(root / FILES["hierarchy"], json.dumps(hierarchy(), indent=4) + "\n")

    sizes = split_sizes(n, n_test)
    ids = image_ids(seed, sum(sizes.values()))
    k = 0
    for split, count in sizes.items():
        (root / split).mkdir()
        records: list[tuple[str, Scene]] = []  # without pixels: a split's worth is large
        for _ in progress(range(count), count, f"{split} images"):
            scene, _, jpeg = make_image(seed, k)
            (root / split / f"{ids[k]}.jpg").write_bytes(jpeg)
            records.append((ids[k], Scene(None, scene.boxes, scene.positives, scene.negatives)))
            k += 1
        records.sort(key=lambda r: r[0])  # the real files are sorted by ImageID
        short = split == "validation"
        write_table(
            root / FILES[f"{split}_boxes"],
            BOX_HEADER_SHORT if short else BOX_HEADER,
            (_box_row(i, b, short) for i, s in records for b in s.boxes),
        )
        write_table(
            root / FILES[f"{split}_labels"],
            LABEL_HEADER,
            (
                (i, "verification", label, conf)
                for i, s in records
                for label, conf in sorted(
                    [(p, 1) for p in s.positives] + [(q, 0) for q in s.negatives]
                )
            ),
        )
        if split == "test":
            write_table(
                root / FILES["sample_submission"], SUBMISSION_HEADER, ((i, "") for i, _ in records)
            )


def _box_row(image_id: str, b: Box, short: bool) -> tuple:
    coords = (f"{b.xmin:.6f}", f"{b.xmax:.6f}", f"{b.ymin:.6f}", f"{b.ymax:.6f}")
    if short:
        return (image_id, b.label, *coords, int(b.group_of))
    flags = (int(b.occluded), int(b.truncated), int(b.group_of), 0, 0)
    return (image_id, "xclick", b.label, 1, *coords, *flags)


# ---- one picture ----------------------------------------------------------------------------


@dataclass
class _Thing:
    """Something to draw: its mask and colours (h, w), and what it is."""

    mask: np.ndarray  # bool (h, w)
    colours: np.ndarray  # float (h, w, 3)
    label: str | None = None  # None: a distractor, of no class
    group: int = -1  # >= 0: a member of that group-of cluster


class _Layers:
    """The picture being painted, and which annotated thing shows at each pixel."""

    def __init__(self, canvas: np.ndarray):
        self.canvas = canvas
        self.H, self.W, _ = canvas.shape
        self.owner = np.full((self.H, self.W), -1, np.int32)  # -1: nothing annotated
        self.things: list[_Thing] = []  # annotated things only, index = owner value
        self.inside: list[int] = []  # pixels inside the picture when placed
        self.whole: list[int] = []  # pixels of the whole shape
        self.visible: list[int] = []  # pixels showing now

    def place(self, thing: _Thing, spot, tries: int = 30) -> bool:
        """Paint `thing` at the first spot (a function giving a top-left corner) where it
        hides no annotated thing by more than MAX_HIDDEN and, if annotated, has at least
        MIN_INSIDE of itself inside; False when no try fits."""
        h, w = thing.mask.shape
        whole = int(thing.mask.sum())
        for _ in range(tries):
            x0, y0 = spot(w, h)
            xa, ya = max(0, x0), max(0, y0)
            xb, yb = min(self.W, x0 + w), min(self.H, y0 + h)
            if xa >= xb or ya >= yb:
                continue
            rows, cols = slice(ya, yb), slice(xa, xb)
            patch = (slice(ya - y0, yb - y0), slice(xa - x0, xb - x0))
            m = thing.mask[patch]
            inside = int(m.sum())
            if thing.label is not None and inside < max(MIN_INSIDE * whole, 20):
                continue
            covered = self.owner[rows, cols][m]
            hidden = np.bincount(covered[covered >= 0], minlength=len(self.things))
            if any(
                self.visible[i] - hidden[i] < (1 - MAX_HIDDEN) * self.inside[i]
                for i in np.flatnonzero(hidden)
            ):
                continue
            self.canvas[rows, cols][m] = thing.colours[patch][m]
            for i in np.flatnonzero(hidden):
                self.visible[i] -= int(hidden[i])
            if thing.label is None:
                self.owner[rows, cols][m] = -1
            else:
                self.owner[rows, cols][m] = len(self.things)
                self.things.append(thing)
                self.inside.append(inside)
                self.whole.append(whole)
                self.visible.append(inside)
            return True
        return False

    def annotations(self) -> tuple[list[Box], list[np.ndarray]]:
        """Boxes tight around what is visible; a group's members under one box of their
        union. A group that got fewer than five members in gets a box per member instead
        (rare: groups go in first), so nothing of a class is ever left unannotated."""
        boxes, masks = [], []
        groups: dict[int, list[int]] = {}
        for i, t in enumerate(self.things):
            if t.group >= 0:
                groups.setdefault(t.group, []).append(i)
        singles = [i for i, t in enumerate(self.things) if t.group < 0]
        for members in groups.values():
            if len(members) >= 5:
                m = np.isin(self.owner, members)
                boxes.append(_box(self.things[members[0]].label, m, False, False, True))
                masks.append(m)
            else:
                singles += members
        for i in sorted(singles):
            m = self.owner == i
            occluded = self.visible[i] < 0.97 * self.inside[i]
            truncated = self.inside[i] < self.whole[i]
            boxes.append(_box(self.things[i].label, m, occluded, truncated))
            masks.append(m)
        return boxes, masks


def draw_scene(rng: np.random.Generator) -> Scene:
    """One picture with its annotations (see the module docstring for what is in it)."""
    W, H = _picture_size(rng)
    short = min(W, H)
    layers = _Layers(_background(rng, H, W))

    def anywhere(w, h):  # now and then hanging over the border: truncated objects
        over = rng.random() < 0.25
        x_lo, x_hi = (-w // 2, W - w // 2) if over else (0, max(0, W - w))
        y_lo, y_hi = (-h // 2, H - h // 2) if over else (0, max(0, H - h))
        return int(rng.integers(x_lo, x_hi + 1)), int(rng.integers(y_lo, y_hi + 1))

    present = _choose_present(rng)
    singles: list[_Thing] = []
    for label in present:
        for _ in range(int(rng.integers(1, 4))):
            size = short * math.exp(rng.uniform(math.log(0.08), math.log(0.5)))
            singles.append(_object(rng, label, max(10.0, size)))
    for _ in range(int(rng.integers(3, 9))):
        size = short * math.exp(rng.uniform(math.log(0.06), math.log(0.4)))
        singles.append(_distractor(rng, max(8.0, size)))

    if rng.random() < GROUP_SHARE:  # first, so that its members find room together
        label = present[0] if present and rng.random() < 0.5 else str(rng.choice(LEAVES))
        size = max(9.0, short * rng.uniform(0.06, 0.1))
        spread = size * 0.8  # members touch and overlap a little, as in a real cluster
        cx, cy = rng.uniform(0.2, 0.8) * W, rng.uniform(0.2, 0.8) * H

        def near_centre(w, h):
            x, y = cx + rng.normal(0, spread), cy + rng.normal(0, spread)
            return int(x - w / 2), int(y - h / 2)

        for _ in range(int(rng.integers(5, 10))):
            member = _object(rng, label, size * rng.uniform(0.85, 1.15), group=0)
            layers.place(member, near_centre)
    for i in rng.permutation(len(singles)):
        layers.place(singles[i], anywhere)

    boxes, masks = layers.annotations()
    shown = sorted({b.label for b in boxes})
    positives = list(shown)
    for leaf in shown:  # sometimes the annotator verified the parent too
        if rng.random() < 0.25 and PARENT_OF[leaf] not in positives:
            positives.append(PARENT_OF[leaf])
    absent = [leaf for leaf in LEAVES if leaf not in shown]
    n_neg = min(len(absent), int(rng.integers(1, 5)))
    negatives = [str(x) for x in rng.choice(absent, n_neg, replace=False)]
    absent_parents = [p for p in PARENTS if all(PARENT_OF[leaf] != p for leaf in shown)]
    if absent_parents and rng.random() < 0.3:  # the metric pushes it down to its leaves
        negatives.append(str(rng.choice(absent_parents)))
    image = _camera(rng, layers.canvas)
    return Scene(image, boxes, sorted(positives), sorted(negatives), masks)


def _picture_size(rng) -> tuple[int, int]:
    long = int(rng.integers(160, 321))
    aspect = math.exp(rng.uniform(math.log(0.6), math.log(1.6)))  # width / height
    if aspect >= 1:
        return long, max(16, round(long / aspect))
    return max(16, round(long * aspect)), long


def _choose_present(rng) -> list[str]:
    if rng.random() < EMPTY_SHARE:
        return []
    k = int(rng.choice([1, 2, 3], p=[0.45, 0.35, 0.2]))
    return [str(x) for x in rng.choice(LEAVES, k, replace=False)]


def _object(rng, label: str, size: float, group: int = -1) -> _Thing:
    mask = _shape_mask(rng, SHAPE_OF[label], size)
    return _Thing(mask, _texture(rng, TEXTURE_OF[label], mask.shape, size), label, group)


def _distractor(rng, size: float) -> _Thing:
    if rng.random() < 0.35:  # a class shape without a class texture: not an object
        mask = _shape_mask(rng, str(rng.choice(PARENT_SHAPES)), size)
        fill = str(rng.choice(DISTRACTOR_FILLS))
    else:
        mask = _shape_mask(rng, str(rng.choice(DISTRACTOR_SHAPES)), size)
        fill = str(rng.choice(LEAF_TEXTURES + DISTRACTOR_FILLS))
    return _Thing(mask, _texture(rng, fill, mask.shape, size))


def _box(label, m: np.ndarray, occluded: bool, truncated: bool, group_of: bool = False) -> Box:
    H, W = m.shape
    ys = np.flatnonzero(m.any(axis=1))
    xs = np.flatnonzero(m.any(axis=0))
    return Box(
        label,
        float(xs[0] / W),
        float((xs[-1] + 1) / W),
        float(ys[0] / H),
        float((ys[-1] + 1) / H),
        occluded=occluded,
        truncated=truncated,
        group_of=group_of,
    )


# ---- shapes and textures -------------------------------------------------------------------


def _shape_mask(rng, shape: str, size: float) -> np.ndarray:
    """A bool mask of `shape` about `size` px across, drawn at 2x and averaged down."""
    s = 2  # supersampling
    if shape == "bottle":
        h, w = size, size * rng.uniform(0.4, 0.55)
    else:
        stretch = rng.uniform(0.85, 1.18)
        h, w = size, size * stretch
    H2, W2 = max(2, round(h)) * s, max(2, round(w)) * s
    img = Image.new("L", (W2, H2))
    d = ImageDraw.Draw(img)
    cx, cy, rx, ry = W2 / 2, H2 / 2, W2 / 2 - 0.5, H2 / 2 - 0.5
    turn = rng.uniform(0, 2 * math.pi)

    def ring(k, r_x, r_y, phase):
        return [
            (
                cx + r_x * math.cos(phase + 2 * math.pi * j / k),
                cy + r_y * math.sin(phase + 2 * math.pi * j / k),
            )
            for j in range(k)
        ]

    if shape == "disc":
        d.ellipse([0, 0, W2 - 1, H2 - 1], fill=255)
    elif shape == "diamond":
        d.polygon([(cx, 0), (W2 - 1, cy), (cx, H2 - 1), (0, cy)], fill=255)
    elif shape == "bottle":  # body, shoulders, neck
        neck = W2 * rng.uniform(0.3, 0.42)
        top_body = H2 * rng.uniform(0.35, 0.45)
        d.rounded_rectangle([0, top_body, W2 - 1, H2 - 1], radius=W2 * 0.18, fill=255)
        d.polygon(
            [
                (0, top_body + 1),
                (cx - neck / 2, top_body * 0.55),
                (cx + neck / 2, top_body * 0.55),
                (W2 - 1, top_body + 1),
            ],
            fill=255,
        )
        d.rectangle([cx - neck / 2, 0, cx + neck / 2, top_body * 0.6], fill=255)
    elif shape == "star":
        outer = ring(5, rx, ry, turn)
        inner = ring(5, rx * 0.45, ry * 0.45, turn + math.pi / 5)
        d.polygon([p for pair in zip(outer, inner, strict=True) for p in pair], fill=255)
    elif shape == "triangle":
        d.polygon(ring(3, rx, ry, turn), fill=255)
    elif shape == "hexagon":
        d.polygon(ring(6, rx, ry, turn), fill=255)
    elif shape == "cross":
        t = rng.uniform(0.28, 0.4)
        d.rectangle([cx - W2 * t / 2, 0, cx + W2 * t / 2, H2 - 1], fill=255)
        d.rectangle([0, cy - H2 * t / 2, W2 - 1, cy + H2 * t / 2], fill=255)
    elif shape == "ring":
        d.ellipse([0, 0, W2 - 1, H2 - 1], fill=255)
        f = rng.uniform(0.3, 0.45)
        d.ellipse([W2 * f, H2 * f, W2 * (1 - f), H2 * (1 - f)], fill=0)
    else:
        raise ValueError(shape)
    a = np.asarray(img, np.float32).reshape(H2 // s, s, W2 // s, s).mean(axis=(1, 3))
    return a > 127


def _texture(rng, kind: str, shape: tuple[int, int], size: float) -> np.ndarray:
    """(h, w, 3) colours in 0-1: two contrasting colours in a pattern whose period follows
    the object's size (a few periods across), or a plain / speckled fill."""
    h, w = shape
    fg, bg = _contrasting_colours(rng)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    period = max(3.0, size / rng.uniform(3.5, 5.5))
    angle = rng.uniform(0, math.pi)
    u = (xx * math.cos(angle) + yy * math.sin(angle)) / period + rng.random()
    v = (-xx * math.sin(angle) + yy * math.cos(angle)) / period + rng.random()
    if kind == "stripes":
        on = (u % 1.0) < 0.5
    elif kind == "dots":
        on = ((u % 1.0) - 0.5) ** 2 + ((v % 1.0) - 0.5) ** 2 < 0.3**2
    elif kind == "checker":
        on = (np.floor(u) + np.floor(v)) % 2 == 0
    elif kind == "plain":
        shade = 1 + rng.uniform(-0.15, 0.15) * (xx / max(w, 1) - 0.5)
        return np.clip(fg * shade[..., None], 0, 1)
    elif kind == "speckle":
        on = rng.random((h, w)) < rng.uniform(0.2, 0.5)
    else:
        raise ValueError(kind)
    return np.where(on[..., None], fg, bg).astype(np.float32)


def _contrasting_colours(rng) -> tuple[np.ndarray, np.ndarray]:
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    while True:
        fg, bg = rng.random(3).astype(np.float32), rng.random(3).astype(np.float32)
        if abs(float(fg @ luma - bg @ luma)) > 0.25:
            return fg, bg


def _background(rng, H: int, W: int) -> np.ndarray:
    """Blotches of colour, lines and outlines: clutter with edges everywhere."""
    grid = rng.random((int(rng.integers(3, 7)), int(rng.integers(3, 7)), 3)).astype(np.float32)
    base = Image.fromarray((grid * 255).astype(np.uint8)).resize((W, H), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(base)
    for _ in range(int(rng.integers(4, 14))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = rng.uniform(0, W, 2), rng.uniform(0, H, 2)
        if rng.random() < 0.6:
            draw.line([(x[0], y[0]), (x[1], y[1])], fill=colour, width=int(rng.integers(1, 4)))
        else:
            box = [min(x), min(y), max(x), max(y)]
            if rng.random() < 0.5:
                draw.ellipse(box, outline=colour, width=int(rng.integers(1, 3)))
            else:
                draw.rectangle(box, outline=colour, width=int(rng.integers(1, 3)))
    return np.asarray(base, np.float32) / 255


def _camera(rng, canvas: np.ndarray) -> np.ndarray:
    """Light falling across the picture, a colour cast, sensor noise, a soft lens."""
    H, W, _ = canvas.shape
    yy, xx = np.mgrid[:H, :W].astype(np.float32)
    light = 1 + rng.uniform(-0.2, 0.2) * (xx / W - 0.5) + rng.uniform(-0.2, 0.2) * (yy / H - 0.5)
    img = canvas * light[..., None] * rng.uniform(0.85, 1.15, 3).astype(np.float32)
    img = img + rng.normal(0, rng.uniform(0.005, 0.03), img.shape).astype(np.float32)
    out = Image.fromarray(np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8))
    return np.asarray(out.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.7))))


__all__ = [
    "BOX_HEADER",
    "BOX_HEADER_SHORT",
    "FILES",
    "LABEL_HEADER",
    "Box",
    "Scene",
    "draw_scene",
    "image_ids",
    "make_image",
    "split_sizes",
    "synth_oid",
]
