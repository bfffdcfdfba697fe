"""A synthetic Open Images 2019 Visual Relationship Detection dataset in the real layout.

    FOLDER/challenge-2019-classes-vrd.csv                LabelName,DisplayName (no header)
    FOLDER/challenge-2019-attributes-description.csv     the 5 attributes (no header)
    FOLDER/challenge-2019-relationships-description.csv  the 10 relationships (no header)
    FOLDER/challenge-2019-relationship-triplets.csv      the allowed triplets this data uses
    FOLDER/challenge-2019-{train,validation}-vrd.csv     one triplet per row
    FOLDER/challenge-2019-{train,validation}-vrd-labels.csv  ImageID,LabelName,Confidence
    FOLDER/train/<ImageID>.jpg, validation/..., test/...
    FOLDER/sample_submission.csv                         ImageId,PredictionString (empty)
    FOLDER/test-vrd.csv, test-vrd-labels.csv             the test answer key Kaggle kept

What is in a picture. A wall (blotchy clutter and shapes of no class, from the oid
generator) over a floor line, and on the floor a few scenes side by side, each built so
that its relationships show in the pixels:

- a table (Table, Desk or Coffee table) with things standing `on` it (Bottle, Mug, Wine
  glass), maybe a Cat or Dog `on` it or `under` it (between its legs, on the floor), a
  Chair `at` it and a Man or Woman `at` it (standing beside it, on the same floor);
- a standing Man or Woman who `holds` something (the thing covers the hand at the end of
  the arm) and/or `wears` a Backpack or Handbag (on the torso, a strap over the shoulder);
- a Chair or Bench with a person, Cat or Dog sitting `on` it, or a pet `under` it;
- a Car with a person, Cat or Dog `inside_of` it (seen through the window);
- lone objects of the classes standing on the floor, in no relationship (distractors).

Attributes (`is`, both boxes the same box) show as the material an object is painted in:
Wooden (brown with grain), Transparent (the things behind show through, an outline),
Plastic (a bright plain colour with a highlight), (made of)Textile (a fine weave),
(made of)Leather (dark, mottled). About a third of the objects that could have an
attribute have none and are painted grey metal; lone distractors are always metal.

So the class pair does not decide the relationship: a Cat and a Table are `on` or
`under`, a Man and a Backpack `holds` or `wears`, a Man and a Table `at` or nothing (he
stands elsewhere), a Bottle and a Table `on` or nothing (the bottle is held or stands on
the floor); a model has to look. Only triplets of ALLOWED_TRIPLETS are written (all in
the real challenge's list), several per picture. The image labels verify every class
present (Confidence 1, distractors too), every attribute (1 if shown, else 0) and a few
absent classes (0).
"""

import csv
import io
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from dlf.core import DlfError, atomic_write_text
from dlf.data.table import write_table
from dlf.tasks.common import progress
from dlf.tasks.oid.synth import (
    _background,
    _camera,
    _distractor,
    _shape_mask,
    _texture,
    image_ids,
    split_sizes,
)
from dlf.tasks.vrd.files import LABELS_HEADER, RELATIONSHIPS, SUBMISSION_HEADER, VRD_HEADER

# The real VRD ids and names of the classes drawn here (a subset of the 57).
CLASSES: dict[str, str] = {
    "Man": "/m/04yx4", "Woman": "/m/03bt1vf", "Cat": "/m/01yrx", "Dog": "/m/0bt9lr",
    "Table": "/m/04bcr3", "Desk": "/m/01y9k5", "Coffee table": "/m/078n6m",
    "Chair": "/m/01mzpv", "Bench": "/m/0cvnqh", "Car": "/m/0k4j", "Bottle": "/m/04dr76w",
    "Mug": "/m/02jvh9", "Wine glass": "/m/09tvcd", "Guitar": "/m/0342h",
    "Mobile phone": "/m/050k8", "Handbag": "/m/080hkjn", "Backpack": "/m/01940j",
    "Suitcase": "/m/01s55n",
}  # fmt: skip
ATTRIBUTES: dict[str, str] = {
    "Transparent": "/m/02gy9n", "Plastic": "/m/05z87", "(made of)Textile": "/m/0dnr7",
    "(made of)Leather": "/m/04lbp", "Wooden": "/m/083vt",
}  # fmt: skip
RELATIONSHIP_NAMES = {r: r for r in RELATIONSHIPS} | {
    "on": "on (top of)", "interacts_with": "interacts with", "inside_of": "inside of",
}  # fmt: skip

PEOPLE = ("Man", "Woman")
PETS = ("Cat", "Dog")
TABLES = ("Table", "Desk", "Coffee table")
SEATS = ("Chair", "Bench")
TABLEWARE = ("Bottle", "Mug", "Wine glass")
HOLDABLE = (
    "Bottle",
    "Mug",
    "Wine glass",
    "Guitar",
    "Mobile phone",
    "Handbag",
    "Suitcase",
    "Backpack",
)
WEARABLE = ("Backpack", "Handbag")
MATERIALS: dict[str, tuple[str, ...]] = {  # the attributes allowed per class (real list)
    "Table": ("Wooden", "Plastic", "Transparent"),
    "Desk": ("Wooden",),
    "Coffee table": ("Wooden", "Plastic", "Transparent"),
    "Chair": ("Wooden", "Plastic", "(made of)Leather"),
    "Bench": ("Wooden", "Plastic"),
    "Bottle": ("Plastic", "Transparent"),
    "Mug": ("Plastic", "Transparent", "Wooden"),
    "Guitar": ("Wooden",),
    "Handbag": ("(made of)Leather", "(made of)Textile"),
    "Backpack": ("(made of)Leather", "(made of)Textile"),
    "Suitcase": ("(made of)Leather", "(made of)Textile", "Plastic"),
}
_PAIRS: dict[str, list[tuple[str, str]]] = {
    "on": [(t, f) for t in TABLEWARE for f in TABLES]
    + [("Cat", f) for f in TABLES + SEATS]
    + [("Dog", f) for f in ("Table", "Desk", *SEATS)]
    + [(p, s) for p in PEOPLE for s in SEATS],
    "under": [("Cat", "Table"), ("Cat", "Chair")] + [("Dog", f) for f in TABLES + SEATS],
    "holds": [(p, t) for p in PEOPLE for t in HOLDABLE],
    "wears": [(p, t) for p in PEOPLE for t in WEARABLE],
    "at": [(p, t) for p in (*PEOPLE, "Chair") for t in TABLES],
    "inside_of": [(s, "Car") for s in PEOPLE + PETS],
}
# (subject, object or attribute, relationship) as display names; every one is in the real
# challenge-2019-relationship-triplets.csv (tests check it against the real file).
ALLOWED_TRIPLETS: tuple[tuple[str, str, str], ...] = tuple(
    [(s, o, r) for r, pairs in _PAIRS.items() for s, o in pairs]
    + [(c, a, "is") for c, attrs in MATERIALS.items() for a in attrs]
)
LABEL_IDS = CLASSES | ATTRIBUTES

FILES = {
    "classes": "challenge-2019-classes-vrd.csv",
    "attributes": "challenge-2019-attributes-description.csv",
    "relationships": "challenge-2019-relationships-description.csv",
    "triplets": "challenge-2019-relationship-triplets.csv",
    "train_vrd": "challenge-2019-train-vrd.csv",
    "train_labels": "challenge-2019-train-vrd-labels.csv",
    "validation_vrd": "challenge-2019-validation-vrd.csv",
    "validation_labels": "challenge-2019-validation-vrd-labels.csv",
    "test_vrd": "test-vrd.csv",
    "test_labels": "test-vrd-labels.csv",
    "sample_submission": "sample_submission.csv",
}
ATTRIBUTE_SHARE = 0.65  # of the objects that may have an attribute, those that show one


@dataclass
class Scene:
    """One picture (H, W, 3 uint8), its objects (class name, `xmin, ymin, xmax, ymax` in
    [0, 1]), its triplets (subject index, object index or attribute name, relationship;
    an `is` triplet's object is its attribute) and its verified labels {LabelName: 0/1}."""

    image: np.ndarray | None
    objects: list[tuple[str, tuple[float, float, float, float]]]
    triplets: list[tuple[int, int | str, str]]
    labels: dict[str, int] = field(default_factory=dict)


def synth_vrd(folder: str | os.PathLike, n: int = 600, n_test: int = 120, seed: int = 0) -> Path:
    """Write `n` labelled pictures (about 85% train, 15% validation) and `n_test` test
    pictures with their answer key into `folder`, in the challenge's layout (module
    docstring). The folder must be new or empty; everything is built in a temporary folder
    beside it and renamed into place. Same seed, same bytes."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise DlfError(f"{folder}: already exists and is not an empty folder; choose a new one")
    if n < 2 or n_test < 1:
        raise DlfError(f"n={n}, n_test={n_test}: need n >= 2 (train and validation), n_test >= 1")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        _write_all(tmp, n, n_test, seed)
        if folder.exists():
            folder.rmdir()  # empty, checked above
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def make_image(seed: int, k: int) -> tuple[Scene, bytes]:
    """Picture k of the dataset: its scene and the JPEG file's bytes."""
    rng = np.random.default_rng([seed, k, 7])
    scene = draw_scene(rng)
    buffer = io.BytesIO()
    Image.fromarray(scene.image).save(buffer, format="JPEG", quality=int(rng.integers(85, 96)))
    return scene, buffer.getvalue()


def _write_all(root: Path, n: int, n_test: int, seed: int) -> None:
    for key, rows in (
        ("classes", [(i, name) for name, i in CLASSES.items()]),
        ("attributes", [(i, name) for name, i in ATTRIBUTES.items()]),
        ("relationships", list(RELATIONSHIP_NAMES.items())),
    ):
        text = io.StringIO()  # no header line, as the real files
        csv.writer(text, lineterminator="\n").writerows(rows)
        atomic_write_text(root / FILES[key], text.getvalue())
    write_table(
        root / FILES["triplets"],
        ("LabelName1", "LabelName2", "RelationshipLabel"),
        ((LABEL_IDS[s], LABEL_IDS[o], r) for s, o, r in ALLOWED_TRIPLETS),
    )
    sizes = split_sizes(n, n_test)
    ids = image_ids(seed, sum(sizes.values()))
    k = 0
    for split, count in sizes.items():
        (root / split).mkdir()
        records: list[tuple[str, Scene]] = []
        for _ in progress(range(count), count, f"{split} images"):
            scene, jpeg = make_image(seed, k)
            (root / split / f"{ids[k]}.jpg").write_bytes(jpeg)
            scene.image = None  # a split's pixels are large; the rows are enough
            records.append((ids[k], scene))
            k += 1
        records.sort(key=lambda r: r[0])  # the real files are sorted by ImageID
        name = "test" if split == "test" else f"{split}"
        write_table(
            root / FILES[f"{name}_vrd"],
            VRD_HEADER,
            (row for i, s in records for row in _vrd_rows(i, s)),
        )
        write_table(
            root / FILES[f"{name}_labels"],
            LABELS_HEADER,
            ((i, label, c) for i, s in records for label, c in sorted(s.labels.items())),
        )
        if split == "test":
            write_table(
                root / FILES["sample_submission"], SUBMISSION_HEADER, ((i, "") for i, _ in records)
            )


def _vrd_rows(image_id: str, scene: Scene):
    for s, o, r in scene.triplets:
        label1, box1 = scene.objects[s]
        label2, box2 = (o, box1) if r == "is" else scene.objects[o]
        x0, y0, x1, y1 = (f"{v:.6f}" for v in box1)
        u0, v0, u1, v1 = (f"{v:.6f}" for v in box2)
        yield (image_id, LABEL_IDS[label1], LABEL_IDS[label2], x0, x1, y0, y1, u0, u1, v0, v1, r)


# ---- painting --------------------------------------------------------------------------------

Draw = Callable[[ImageDraw.ImageDraw], None]
Texture = Callable[[int, int, np.ndarray], np.ndarray]  # (h, w, pixels under) -> colours


class _Picture:
    """The canvas (float H x W x 3 in 0-1) and the objects drawn so far."""

    def __init__(self, canvas: np.ndarray):
        self.canvas = canvas
        self.H, self.W, _ = canvas.shape
        self.objects: list[tuple[str, np.ndarray]] = []  # (class, its pixels)
        self.triplets: list[tuple[int, int | str, str]] = []

    def mask(self, *shapes: Draw) -> np.ndarray:
        img = Image.new("L", (self.W, self.H))
        d = ImageDraw.Draw(img)
        for shape in shapes:
            shape(d)
        return np.asarray(img) > 127

    def paint(self, mask: np.ndarray, texture: Texture) -> None:
        ys, xs = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        if not len(ys):
            return
        rows, cols = slice(ys[0], ys[-1] + 1), slice(xs[0], xs[-1] + 1)
        patch = self.canvas[rows, cols]
        m = mask[rows, cols]
        patch[m] = texture(m.shape[0], m.shape[1], patch)[m]

    def add(self, label: str, mask: np.ndarray) -> int:
        self.objects.append((label, mask))
        return len(self.objects) - 1

    def relate(self, s: int, o: int | str, r: str) -> None:
        self.triplets.append((s, o, r))


def _rect(x0, y0, x1, y1) -> Draw:
    return lambda d: d.rectangle([min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)], fill=255)


def _ellipse(cx, cy, rx, ry) -> Draw:
    return lambda d: d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)


def _poly(points) -> Draw:
    return lambda d: d.polygon([tuple(p) for p in points], fill=255)


def _line(points, width) -> Draw:
    return lambda d: d.line([tuple(p) for p in points], fill=255, width=max(1, round(width)))


def _plain(colour) -> Texture:
    c = np.asarray(colour, np.float32)
    return lambda h, w, under: np.broadcast_to(c, (h, w, 3))


def _material(rng, name: str | None) -> Texture:
    """The look of an attribute (None: grey metal, no attribute)."""
    if name == "Wooden":
        base = np.array([rng.uniform(0.45, 0.62), rng.uniform(0.26, 0.36), rng.uniform(0.1, 0.18)])
        period, phase = rng.uniform(3, 6), rng.uniform(0, 6.3)

        def wood(h, w, under):
            yy, xx = np.mgrid[:h, :w].astype(np.float32)
            grain = np.sin((yy + 1.5 * np.sin(xx / 7 + phase)) * 2 * math.pi / period)
            return (base * (0.8 + 0.2 * grain[..., None])).astype(np.float32)

        return wood
    if name == "Transparent":
        tint = np.array([0.75, 0.9, 1.0], np.float32)

        def glass(h, w, under):  # what is behind shows through, tinted and brighter
            out = 0.55 * under + 0.45 * tint
            out[:, int(w * 0.25) : int(w * 0.25) + max(1, w // 10)] = 0.97  # a reflection
            return out

        return glass
    if name == "Plastic":
        hue = rng.integers(0, 3)
        colour = np.full(3, rng.uniform(0.0, 0.2), np.float32)
        colour[hue] = rng.uniform(0.8, 1.0)
        colour[(hue + 1) % 3] = rng.uniform(0.0, 0.9)

        def plastic(h, w, under):
            out = np.broadcast_to(colour, (h, w, 3)).copy()
            out[:, int(w * 0.2) : int(w * 0.2) + max(1, w // 8)] = 0.5 + 0.5 * colour  # shine
            return out

        return plastic
    if name == "(made of)Textile":
        a = rng.uniform(0.3, 0.7, 3).astype(np.float32)
        b = np.clip(a * rng.uniform(0.55, 0.75), 0, 1).astype(np.float32)

        def textile(h, w, under):
            yy, xx = np.mgrid[:h, :w]
            return np.where((((yy // 2) + (xx // 2)) % 2 == 0)[..., None], a, b)

        return textile
    if name == "(made of)Leather":
        base = np.array([rng.uniform(0.15, 0.35), rng.uniform(0.08, 0.18), rng.uniform(0.04, 0.1)])

        def leather(h, w, under):
            noise = rng.normal(0, 0.05, (h, w, 1))
            return np.clip(base + noise, 0, 1).astype(np.float32)

        return leather
    grey = rng.uniform(0.5, 0.8)

    def metal(h, w, under):
        yy = np.mgrid[:h, :w][0].astype(np.float32)
        shade = grey * (0.8 + 0.35 * yy / max(h, 1))
        return np.repeat(shade[..., None], 3, axis=2) * np.array([0.95, 0.98, 1.0], np.float32)

    return metal


def _pick_material(rng, label: str, lone: bool = False) -> str | None:
    options = MATERIALS.get(label, ())
    if lone or not options or rng.random() >= ATTRIBUTE_SHARE:
        return None
    return str(rng.choice(options))


def _object(pic: _Picture, rng, label: str, shapes: list[Draw], material: str | None) -> int:
    """Paint one object of `shapes` in a material and add it (and its `is` row)."""
    mask = pic.mask(*shapes)
    pic.paint(mask, _material(rng, material))
    i = pic.add(label, mask)
    if material is not None:
        pic.relate(i, material, "is")
    return i


# ---- the things ------------------------------------------------------------------------------


def _item(pic, rng, label: str, cx: float, bottom: float, s: float, lone=False) -> int:
    """A small thing `s` px high standing with its bottom at `bottom`, centred at cx."""
    material = _pick_material(rng, label, lone)
    top = bottom - s
    if label == "Bottle":
        shape = _shape_mask(rng, "bottle", s)
        h, w = shape.shape
        x0, y0 = round(cx - w / 2), round(bottom - h)
        ys, xs = np.nonzero(shape)
        points = [(x0 + x, y0 + y) for y, x in zip(ys.tolist(), xs.tolist(), strict=True)]
        shapes = [lambda d: d.point(points, fill=255)]
    elif label == "Mug":
        shapes = [
            _rect(cx - 0.35 * s, top, cx + 0.3 * s, bottom),
            lambda d: d.ellipse(
                [cx + 0.15 * s, top + 0.2 * s, cx + 0.55 * s, bottom - 0.25 * s],
                outline=255, width=max(1, round(0.1 * s)),
            ),
        ]  # fmt: skip
    elif label == "Wine glass":
        shapes = [
            _ellipse(cx, top + 0.25 * s, 0.28 * s, 0.26 * s),
            _rect(cx - 0.04 * s, top + 0.45 * s, cx + 0.04 * s, bottom),
            _ellipse(cx, bottom - 0.04 * s, 0.22 * s, 0.05 * s),
        ]
        material = None  # glass is always see-through, and the list allows it no `is`
    elif label == "Guitar":
        shapes = [
            _ellipse(cx, bottom - 0.2 * s, 0.2 * s, 0.2 * s),
            _ellipse(cx, bottom - 0.47 * s, 0.15 * s, 0.15 * s),
            _rect(cx - 0.035 * s, top + 0.08 * s, cx + 0.035 * s, bottom - 0.5 * s),
            _rect(cx - 0.06 * s, top, cx + 0.06 * s, top + 0.1 * s),
        ]
    elif label == "Mobile phone":
        shapes = [
            lambda d: d.rounded_rectangle([cx - 0.27 * s, top, cx + 0.27 * s, bottom], 2, fill=255)
        ]
    elif label == "Handbag":
        shapes = [
            _poly([(cx - 0.35 * s, top + 0.4 * s), (cx + 0.35 * s, top + 0.4 * s),
                   (cx + 0.45 * s, bottom), (cx - 0.45 * s, bottom)]),
            lambda d: d.ellipse([cx - 0.25 * s, top, cx + 0.25 * s, top + 0.75 * s],
                                outline=255, width=max(1, round(0.07 * s))),
        ]  # fmt: skip
    elif label == "Backpack":
        shapes = [
            lambda d: d.rounded_rectangle(
                [cx - 0.36 * s, top, cx + 0.36 * s, bottom], 0.15 * s, fill=255
            )
        ]
    elif label == "Suitcase":
        shapes = [
            lambda d: d.rounded_rectangle([cx - 0.36 * s, top + 0.14 * s, cx + 0.36 * s, bottom], 0.06 * s, fill=255),
            lambda d: d.rectangle([cx - 0.12 * s, top, cx + 0.12 * s, top + 0.16 * s],
                                  outline=255, width=max(1, round(0.05 * s))),
        ]  # fmt: skip
    else:
        raise ValueError(label)
    if label == "Wine glass":
        mask = pic.mask(*shapes)
        pic.paint(mask, _material(rng, "Transparent"))
        i = pic.add(label, mask)
    else:
        i = _object(pic, rng, label, shapes, material)
    if label == "Mobile phone":  # a lit screen
        pic.paint(pic.mask(_rect(cx - 0.2 * s, top + 0.1 * s, cx + 0.2 * s, bottom - 0.15 * s)),
                  _plain(rng.uniform(0.6, 0.9, 3)))  # fmt: skip
    return i


def _table(
    pic, rng, label: str, x0: float, floor: float, u: float
) -> tuple[int, float, float, float]:
    """A table standing on the floor: (its index, top y, left, right)."""
    w = {"Table": 0.42, "Desk": 0.46, "Coffee table": 0.5}[label] * u * rng.uniform(0.9, 1.1)
    h = {"Table": 0.3, "Desk": 0.32, "Coffee table": 0.15}[label] * u * rng.uniform(0.9, 1.1)
    top, slab = floor - h, h * (0.12 if label != "Coffee table" else 0.25)
    leg = w * 0.08
    shapes = [
        _rect(x0, top, x0 + w, top + slab),
        _rect(x0 + 0.04 * w, top, x0 + 0.04 * w + leg, floor),
    ]
    if label == "Desk":  # a block of drawers on the right
        shapes.append(_rect(x0 + 0.62 * w, top, x0 + w, floor))
    else:
        shapes.append(_rect(x0 + 0.96 * w - leg, top, x0 + 0.96 * w, floor))
    i = _object(pic, rng, label, shapes, _pick_material(rng, label))
    if label == "Desk":
        for f in (0.4, 0.7):
            y = top + f * h
            pic.paint(
                pic.mask(_line([(x0 + 0.66 * w, y), (x0 + 0.96 * w, y)], 1)), _plain((0.1,) * 3)
            )
    return i, top, x0, x0 + w


def _seat(pic, rng, label, x0, floor, s, facing, lone=False) -> tuple[int, float, float]:
    """A Chair (back on the side away from `facing`) or a Bench: (index, seat top y, width)."""
    if label == "Chair":
        w, seat_y = 0.45 * s, floor - 0.45 * s
        back_x = x0 if facing > 0 else x0 + w - 0.08 * s
        shapes = [
            _rect(x0, seat_y, x0 + w, seat_y + 0.07 * s),
            _rect(back_x, floor - s, back_x + 0.08 * s, seat_y),
            _rect(x0 + 0.02 * s, seat_y, x0 + 0.08 * s, floor),
            _rect(x0 + w - 0.08 * s, seat_y, x0 + w - 0.02 * s, floor),
        ]
    else:
        w, seat_y = 1.1 * s, floor - 0.4 * s
        shapes = [_rect(x0, seat_y, x0 + w, seat_y + 0.09 * s)]
        shapes += [
            _rect(x0 + f * w, seat_y, x0 + f * w + 0.07 * s, floor) for f in (0.05, 0.47, 0.88)
        ]
    i = _object(pic, rng, label, shapes, _pick_material(rng, label, lone))
    return i, seat_y, w


def _pet(pic, rng, label, x0, bottom, ph, facing) -> tuple[int, float]:
    """A Cat (pointed ears, a tail up, stripes) or Dog (hanging ears, a snout, spots)
    `ph` px high standing on `bottom`: (index, length)."""
    L = (1.5 if label == "Cat" else 1.35) * ph

    def X(u):  # local x to picture x, mirrored when facing left
        return x0 + u * L if facing > 0 else x0 + L - u * L

    def y(v):
        return bottom - v * ph

    shapes = [_ellipse((X(0.15) + X(0.75)) / 2, y(0.42), 0.3 * L, 0.2 * ph)]
    for u in (0.22, 0.32, 0.6, 0.68):
        shapes.append(_rect(X(u), y(0.4), X(u + 0.06), bottom))
    head_x = X(0.82)
    if label == "Cat":
        r = 0.2 * ph
        shapes += [
            _ellipse(head_x, y(0.65), r, r),
            _poly([(head_x - r, y(0.7)), (head_x - 0.5 * r, y(1.0)), (head_x, y(0.75))]),
            _poly([(head_x, y(0.75)), (head_x + 0.5 * r, y(1.0)), (head_x + r, y(0.7))]),
            _line([(X(0.15), y(0.45)), (X(0.02), y(0.85))], 0.06 * ph),
        ]
        kind = "stripes"
    else:
        r = 0.2 * ph
        shapes += [
            _ellipse(head_x, y(0.72), r, r),
            _rect(head_x, y(0.72), X(1.0), y(0.55)),
            _ellipse(head_x - 0.15 * L * facing, y(0.62), 0.07 * L, 0.2 * ph),
            _line([(X(0.15), y(0.55)), (X(0.04), y(0.75))], 0.06 * ph),
        ]
        kind = "dots"
    mask = pic.mask(*shapes)
    pic.paint(mask, lambda h, w, under: _texture(rng, kind, (h, w), ph))
    return pic.add(label, mask), L


def _person(
    pic, rng, label, cx, floor, h, facing, seat_y=None
) -> tuple[int, tuple[float, float], float]:
    """A Man (a shirt) or Woman (a dress) `h` px tall standing on the floor, or sitting on
    `seat_y` with the legs forward: (index, hand point, shoulder y)."""
    skin = np.array(
        rng.choice([[0.95, 0.8, 0.68], [0.8, 0.6, 0.45], [0.55, 0.38, 0.26], [0.35, 0.24, 0.17]])
    )
    cloth, legs_c = rng.uniform(0.1, 0.9, 3), rng.uniform(0.05, 0.5, 3)
    top = floor - h if seat_y is None else seat_y - 0.58 * h
    r = 0.09 * h
    shoulder = top + 2 * r + 0.01 * h
    hip = top + 0.55 * h if seat_y is None else seat_y - 0.04 * h
    if seat_y is None:
        legs = [
            _rect(cx - 0.09 * h, hip, cx - 0.02 * h, floor),
            _rect(cx + 0.02 * h, hip, cx + 0.09 * h, floor),
        ]
    else:
        legs = [_rect(cx, seat_y - 0.09 * h, cx + facing * 0.3 * h, seat_y)]
    if label == "Man":
        body = _poly(
            [
                (cx - 0.13 * h, shoulder),
                (cx + 0.13 * h, shoulder),
                (cx + 0.1 * h, hip),
                (cx - 0.1 * h, hip),
            ]
        )
    else:
        hem = top + 0.72 * h if seat_y is None else hip
        body = _poly(
            [
                (cx - 0.08 * h, shoulder),
                (cx + 0.08 * h, shoulder),
                (cx + 0.17 * h, hem),
                (cx - 0.17 * h, hem),
            ]
        )
    hand = (cx + facing * 0.27 * h, top + 0.47 * h)
    arm = _line([(cx + facing * 0.1 * h, shoulder + 0.03 * h), hand], 0.05 * h)
    parts = [
        (legs, legs_c), ([body], cloth), ([arm], cloth),
        ([_ellipse(cx, top + r, r, r), _ellipse(*hand, 0.035 * h, 0.035 * h)], skin),
    ]  # fmt: skip
    mask = np.zeros((pic.H, pic.W), bool)
    for shapes, colour in parts:
        m = pic.mask(*shapes)
        pic.paint(m, _plain(colour))
        mask |= m
    return pic.add(label, mask), hand, shoulder


def _car(pic, rng, x0, floor, L, occupant: str | None) -> float:
    """A Car on the floor; an occupant's head and shoulders show through its window."""
    body = [
        lambda d: d.rounded_rectangle([x0, floor - 0.3 * L, x0 + L, floor - 0.08 * L], 0.05 * L, fill=255),
        _poly([(x0 + 0.18 * L, floor - 0.29 * L), (x0 + 0.3 * L, floor - 0.5 * L),
               (x0 + 0.72 * L, floor - 0.5 * L), (x0 + 0.86 * L, floor - 0.29 * L)]),
    ]  # fmt: skip
    wheels = [_ellipse(x0 + f * L, floor - 0.1 * L, 0.1 * L, 0.1 * L) for f in (0.22, 0.78)]
    window = pic.mask(_poly([(x0 + 0.26 * L, floor - 0.3 * L), (x0 + 0.34 * L, floor - 0.46 * L),
                             (x0 + 0.7 * L, floor - 0.46 * L), (x0 + 0.79 * L, floor - 0.3 * L)]))  # fmt: skip
    car_mask = pic.mask(*body, *wheels)
    pic.paint(pic.mask(*body), _plain(rng.uniform(0.1, 0.95, 3)))
    pic.paint(pic.mask(*wheels), _plain((0.08, 0.08, 0.08)))
    pic.paint(window, _plain(rng.uniform(0.7, 0.85) * np.array([0.85, 0.95, 1.0])))
    car = pic.add("Car", car_mask)
    if occupant is not None:
        cx = x0 + rng.uniform(0.4, 0.62) * L
        head_y, r = floor - 0.4 * L, 0.045 * L
        if occupant in PEOPLE:
            shapes = [
                _ellipse(cx, head_y, r, r),
                _ellipse(cx, floor - 0.28 * L, 0.09 * L, 0.07 * L),
            ]
            colour = rng.uniform(0.2, 0.9, 3)
        else:
            shapes = [_ellipse(cx, head_y + 0.02 * L, r, r)]
            ear = 0.03 * L
            if occupant == "Cat":
                shapes.append(
                    _poly([(cx - r, head_y), (cx - r / 2, head_y - r - ear), (cx, head_y)])
                )
                shapes.append(
                    _poly([(cx, head_y), (cx + r / 2, head_y - r - ear), (cx + r, head_y)])
                )
            else:
                shapes.append(_ellipse(cx - r, head_y + r / 2, r / 3, r))
                shapes.append(_ellipse(cx + r, head_y + r / 2, r / 3, r))
            colour = rng.uniform(0.3, 0.8, 3) * np.array([1.0, 0.8, 0.55])
        seen = pic.mask(*shapes) & window
        pic.paint(seen, _plain(colour))
        if seen.sum() >= 6:
            pic.relate(pic.add(occupant, seen), car, "inside_of")
    return L


# ---- scenes ----------------------------------------------------------------------------------


def _table_scene(pic, rng, x, floor, u) -> float:
    chair_left = rng.random() < 0.4
    person_right = rng.random() < 0.5
    start = x
    if chair_left:
        ci, _, cw = _seat(pic, rng, "Chair", x, floor, 0.34 * u, facing=1)
        x += cw + rng.uniform(0.0, 0.03) * u
    label = str(rng.choice(TABLES))
    t, top, left, right = _table(pic, rng, label, x, floor, u)
    if chair_left:
        pic.relate(ci, t, "at")
    pet = rng.random()
    if pet < 0.45:
        kind = str(rng.choice(PETS))
        on_ok = (kind, label, "on") in _ALLOWED
        under_ok = (kind, label, "under") in _ALLOWED
        where = "on" if on_ok and (not under_ok or rng.random() < 0.5) else "under"
        if where == "under" and under_ok:
            clearance = (floor - top) * (0.72 if label != "Coffee table" else 0.6)
            ph = min(clearance, 0.16 * u) * rng.uniform(0.8, 1.0)
            px = left + (right - left) * rng.uniform(0.15, 0.3)
            p, _ = _pet(pic, rng, kind, px, floor, ph, rng.choice([-1, 1]))
            pic.relate(p, t, "under")
        elif on_ok:
            ph = 0.15 * u * rng.uniform(0.8, 1.1)
            px = left + (right - left) * rng.uniform(0.0, 0.3)
            p, _ = _pet(pic, rng, kind, px, top, ph, rng.choice([-1, 1]))
            pic.relate(p, t, "on")
    for _ in range(int(rng.integers(0, 3))):
        item = str(rng.choice(TABLEWARE))
        cx = left + (right - left) * rng.uniform(0.55, 0.9)
        pic.relate(_item(pic, rng, item, cx, top, 0.09 * u * rng.uniform(0.8, 1.3)), t, "on")
    x = right
    if person_right:
        h = 0.55 * u * rng.uniform(0.9, 1.1)
        cx = x + 0.22 * h + rng.uniform(0.0, 0.03) * u
        person, hand, _ = _person(pic, rng, str(rng.choice(PEOPLE)), cx, floor, h, facing=-1)
        pic.relate(person, t, "at")
        if rng.random() < 0.4:
            _hold(pic, rng, person, hand, h)
        x = cx + 0.15 * h
    return x - start


def _hold(pic, rng, person, hand, h, options=HOLDABLE) -> None:
    label = str(rng.choice(options))
    hx, hy = hand
    if label in ("Handbag", "Suitcase", "Backpack"):  # hanging from the hand
        s = {"Handbag": 0.18, "Suitcase": 0.3, "Backpack": 0.24}[label] * h
        bottom = hy - 0.04 * h + s
    else:
        s = {"Bottle": 0.2, "Mug": 0.11, "Wine glass": 0.16, "Guitar": 0.45, "Mobile phone": 0.09}[
            label
        ] * h
        bottom = hy + (0.5 if label != "Guitar" else 0.3) * s
    pic.relate(person, _item(pic, rng, label, hx, bottom, s), "holds")


def _person_scene(pic, rng, x, floor, u) -> float:
    h = 0.58 * u * rng.uniform(0.9, 1.1)
    facing = int(rng.choice([-1, 1]))
    cx = x + 0.3 * h
    label = str(rng.choice(PEOPLE))
    person, hand, shoulder = _person(pic, rng, label, cx, floor, h, facing)
    wear = rng.random() < 0.5
    if wear:
        kind = str(rng.choice(WEARABLE))
        if kind == "Backpack":
            s = 0.28 * h
            bag = _item(pic, rng, kind, cx - 0.03 * facing * h, shoulder + s + 0.03 * h, s)
        else:
            s = 0.17 * h
            bx, by = cx - 0.1 * facing * h, shoulder + 0.38 * h
            pic.paint(pic.mask(_line([(cx + 0.06 * facing * h, shoulder), (bx, by - s * 0.6)], 1.5)),
                      _plain((0.1, 0.07, 0.05)))  # fmt: skip
            bag = _item(pic, rng, kind, bx, by, s)
        pic.relate(person, bag, "wears")
    if (not wear or rng.random() < 0.5) and rng.random() < 0.85:
        _hold(pic, rng, person, hand, h)
    return 0.65 * h


def _seat_scene(pic, rng, x, floor, u) -> float:
    label = str(rng.choice(SEATS))
    facing = int(rng.choice([-1, 1]))
    s = 0.34 * u * rng.uniform(0.9, 1.1)
    seat, seat_y, w = _seat(pic, rng, label, x, floor, s, facing)
    who = rng.random()
    if who < 0.45:
        h = 0.55 * u
        cx = (
            x + (0.12 * s if facing > 0 else w - 0.12 * s)
            if label == "Chair"
            else x + w * rng.uniform(0.3, 0.6)
        )
        person, hand, _ = _person(
            pic, rng, str(rng.choice(PEOPLE)), cx, floor, h, facing, seat_y=seat_y
        )
        pic.relate(person, seat, "on")
        if rng.random() < 0.3:
            _hold(pic, rng, person, hand, h, ("Mug", "Mobile phone", "Bottle", "Guitar"))
        return max(w, 0.45 * h)
    kind = str(rng.choice(PETS))
    if who < 0.75 or (kind, label, "under") not in _ALLOWED:
        ph = 0.14 * u * rng.uniform(0.85, 1.1)
        pet, L = _pet(pic, rng, kind, x + rng.uniform(0, 0.1) * w, seat_y, ph, facing)
        pic.relate(pet, seat, "on")
        return max(w, L)
    ph = min(0.13 * u, (seat_y - (floor - 0.45 * s)) + 0.3 * s) * rng.uniform(0.8, 0.95)
    pet, L = _pet(pic, rng, kind, x + 0.1 * w, floor, min(ph, 0.3 * s), facing)
    pic.relate(pet, seat, "under")
    return max(w, L + 0.1 * w)


def _car_scene(pic, rng, x, floor, u) -> float:
    occupant = str(rng.choice(PEOPLE + PETS)) if rng.random() < 0.8 else None
    return _car(pic, rng, x, floor, u * rng.uniform(0.75, 0.95), occupant)


def _lone_scene(pic, rng, x, floor, u) -> float:
    """An object of a class in no relationship: it is in the image labels, not the triplets."""
    kind = str(
        rng.choice(
            (
                "Bottle",
                "Mug",
                "Suitcase",
                "Handbag",
                "Backpack",
                "Chair",
                "Bench",
                "Man",
                "Woman",
                "Cat",
                "Dog",
            )
        )
    )
    if kind in SEATS:
        _, _, w = _seat(pic, rng, kind, x, floor, 0.34 * u, int(rng.choice([-1, 1])), lone=True)
        return w
    if kind in PEOPLE:
        h = 0.55 * u
        _person(pic, rng, kind, x + 0.3 * h, floor, h, int(rng.choice([-1, 1])))
        return 0.6 * h
    if kind in PETS:
        return _pet(pic, rng, kind, x, floor, 0.14 * u, int(rng.choice([-1, 1])))[1]
    s = {"Bottle": 0.1, "Mug": 0.06, "Suitcase": 0.18, "Handbag": 0.1, "Backpack": 0.15}[kind] * u
    _item(pic, rng, kind, x + 0.4 * s, floor, s, lone=True)
    return 0.8 * s


_ALLOWED = set(ALLOWED_TRIPLETS)
_SCENES = (_table_scene, _person_scene, _seat_scene, _car_scene, _lone_scene)
_SCENE_WEIGHTS = (0.32, 0.25, 0.2, 0.1, 0.13)


def draw_scene(rng: np.random.Generator) -> Scene:
    """One picture with its annotations (see the module docstring for what is in it)."""
    H = int(rng.integers(180, 241))
    W = round(H * rng.uniform(1.35, 1.8))
    u = H  # the size unit: a standing person is about 0.55 u tall
    floor = H * rng.uniform(0.88, 0.96)
    canvas = _background(rng, H, W)
    canvas[round(floor) - round(0.03 * H) :] = rng.uniform(0.2, 0.6, 3).astype(np.float32)
    pic = _Picture(canvas)
    for _ in range(int(rng.integers(1, 4))):  # shapes of no class on the wall
        thing = _distractor(rng, H * rng.uniform(0.08, 0.2))
        h, w = thing.mask.shape
        x0, y0 = (
            int(rng.integers(0, max(1, W - w))),
            int(rng.integers(0, max(1, round(floor * 0.5)))),
        )
        region = canvas[y0 : y0 + h, x0 : x0 + w]
        m = thing.mask[: region.shape[0], : region.shape[1]]
        region[m] = thing.colours[: region.shape[0], : region.shape[1]][m]
    x = rng.uniform(0.02, 0.08) * W
    while x < W * 0.92:
        scene = _SCENES[int(rng.choice(len(_SCENES), p=_SCENE_WEIGHTS))]
        if scene is _car_scene and x + 0.95 * u > W:
            continue
        trial = _Picture(pic.canvas.copy())  # try on a copy: a scene that overflows is dropped
        trial.objects, trial.triplets = list(pic.objects), list(pic.triplets)
        used = scene(trial, rng, x, floor, u)
        added = [m for _, m in trial.objects[len(pic.objects) :]]
        fits = added and all(m.any() and not m[:, -2:].any() for m in added)
        if not fits:  # off the right edge (or nothing drawn): the row is full
            break
        pic = trial
        x += used + rng.uniform(0.04, 0.12) * u
    related = {s for s, _, _ in pic.triplets} | {o for _, o, r in pic.triplets if r != "is"}
    keep = sorted(related)
    index = {old: new for new, old in enumerate(keep)}
    objects = [(pic.objects[i][0], _box(pic.objects[i][1])) for i in keep]
    triplets = [(index[s], o if r == "is" else index[o], r) for s, o, r in pic.triplets]
    present = {label for label, _ in pic.objects}
    labels = {CLASSES[c]: 1 for c in present}
    shown = {o for _, o, r in pic.triplets if r == "is"}
    labels |= {ATTRIBUTES[a]: int(a in shown) for a in ATTRIBUTES}
    absent = [c for c in CLASSES if c not in present]
    for c in rng.choice(absent, min(len(absent), 2), replace=False):
        labels[CLASSES[str(c)]] = 0
    return Scene(_camera(rng, pic.canvas), objects, triplets, labels)


def _box(mask: np.ndarray) -> tuple[float, float, float, float]:
    H, W = mask.shape
    ys, xs = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return (float(xs[0] / W), float(ys[0] / H), float((xs[-1] + 1) / W), float((ys[-1] + 1) / H))


__all__ = [
    "ALLOWED_TRIPLETS",
    "ATTRIBUTES",
    "CLASSES",
    "FILES",
    "Scene",
    "draw_scene",
    "make_image",
    "synth_vrd",
]
