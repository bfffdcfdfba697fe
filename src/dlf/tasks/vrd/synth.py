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
Wooden (brown with grain), Transparent (the things behind show through, a reflection),
Plastic (a bright plain colour with a highlight), (made of)Textile (a fine weave),
(made of)Leather (dark, mottled). About a third of the objects that could have an
attribute have none and are painted grey metal; lone distractors are always metal. A
Wine glass always looks transparent, but the real list allows it no attribute: no `is` row.

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
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from dlf.core import DlfError, atomic_folder, atomic_write_text
from dlf.data.table import write_table
from dlf.tasks.common import progress
from dlf.tasks.oid.synth import (
    _background,
    _camera,
    _shape_mask,
    _texture,
    image_ids,
    split_sizes,
)
from dlf.tasks.vrd.drawing import (
    Picture,
    draw_car,
    draw_item,
    draw_person,
    draw_pet,
    draw_seat,
    draw_table,
    line,
    plain,
)
from dlf.tasks.vrd.files import LABELS_HEADER, SUBMISSION_HEADER, VRD_HEADER
from dlf.tasks.vrd.vocab import (
    ALLOWED_TRIPLETS,
    ATTRIBUTES,
    CLASSES,
    HOLDABLE,
    LABEL_IDS,
    PEOPLE,
    PETS,
    RELATIONSHIP_NAMES,
    SEATS,
    TABLES,
    TABLEWARE,
    WEARABLE,
)

WALL_SHAPES = ("disc", "diamond", "star", "triangle", "cross", "ring", "hexagon")
WALL_FILLS = ("stripes", "dots", "checker", "plain", "speckle")
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
    with atomic_folder(folder) as tmp:
        if n < 2 or n_test < 1:
            raise DlfError(
                f"n={n}, n_test={n_test}: need n >= 2 (train and validation), n_test >= 1"
            )
        _write_all(tmp, n, n_test, seed)
    return Path(folder)


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


# ---- scenes ----------------------------------------------------------------------------------


def _table_scene(pic, rng, x, floor, u) -> float:
    chair_left = rng.random() < 0.4
    person_right = rng.random() < 0.5
    start = x
    if chair_left:
        ci, _, cw = draw_seat(pic, rng, "Chair", x, floor, 0.34 * u, facing=1)
        x += cw + rng.uniform(0.0, 0.03) * u
    label = str(rng.choice(TABLES))
    t, top, left, right = draw_table(pic, rng, label, x, floor, u)
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
            p, _ = draw_pet(pic, rng, kind, px, floor, ph, rng.choice([-1, 1]))
            pic.relate(p, t, "under")
        elif on_ok:
            ph = 0.15 * u * rng.uniform(0.8, 1.1)
            px = left + (right - left) * rng.uniform(0.0, 0.3)
            p, _ = draw_pet(pic, rng, kind, px, top, ph, rng.choice([-1, 1]))
            pic.relate(p, t, "on")
    for _ in range(int(rng.integers(0, 3))):
        item = str(rng.choice(TABLEWARE))
        cx = left + (right - left) * rng.uniform(0.55, 0.9)
        pic.relate(draw_item(pic, rng, item, cx, top, 0.09 * u * rng.uniform(0.8, 1.3)), t, "on")
    x = right
    if person_right:
        h = 0.55 * u * rng.uniform(0.9, 1.1)
        cx = x + 0.22 * h + rng.uniform(0.0, 0.03) * u
        person, hand, _ = draw_person(pic, rng, str(rng.choice(PEOPLE)), cx, floor, h, facing=-1)
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
    pic.relate(person, draw_item(pic, rng, label, hx, bottom, s), "holds")


def _person_scene(pic, rng, x, floor, u) -> float:
    h = 0.58 * u * rng.uniform(0.9, 1.1)
    facing = int(rng.choice([-1, 1]))
    cx = x + 0.3 * h
    label = str(rng.choice(PEOPLE))
    person, hand, shoulder = draw_person(pic, rng, label, cx, floor, h, facing)
    wear = rng.random() < 0.5
    if wear:
        kind = str(rng.choice(WEARABLE))
        if kind == "Backpack":
            s = 0.28 * h
            bag = draw_item(pic, rng, kind, cx - 0.03 * facing * h, shoulder + s + 0.03 * h, s)
        else:
            s = 0.17 * h
            bx, by = cx - 0.1 * facing * h, shoulder + 0.38 * h
            pic.paint(pic.mask(line([(cx + 0.06 * facing * h, shoulder), (bx, by - s * 0.6)], 1.5)),
                      plain((0.1, 0.07, 0.05)))  # fmt: skip
            bag = draw_item(pic, rng, kind, bx, by, s)
        pic.relate(person, bag, "wears")
    if (not wear or rng.random() < 0.5) and rng.random() < 0.85:
        _hold(pic, rng, person, hand, h)
    return 0.65 * h


def _seat_scene(pic, rng, x, floor, u) -> float:
    label = str(rng.choice(SEATS))
    facing = int(rng.choice([-1, 1]))
    s = 0.34 * u * rng.uniform(0.9, 1.1)
    seat, seat_y, w = draw_seat(pic, rng, label, x, floor, s, facing)
    who = rng.random()
    if who < 0.45:
        h = 0.55 * u
        cx = (
            x + (0.12 * s if facing > 0 else w - 0.12 * s)
            if label == "Chair"
            else x + w * rng.uniform(0.3, 0.6)
        )
        person, hand, _ = draw_person(
            pic, rng, str(rng.choice(PEOPLE)), cx, floor, h, facing, seat_y=seat_y
        )
        pic.relate(person, seat, "on")
        if rng.random() < 0.3:
            _hold(pic, rng, person, hand, h, ("Mug", "Mobile phone", "Bottle", "Guitar"))
        return max(w, 0.45 * h)
    kind = str(rng.choice(PETS))
    if who < 0.75 or (kind, label, "under") not in _ALLOWED:
        ph = 0.14 * u * rng.uniform(0.85, 1.1)
        pet, L = draw_pet(pic, rng, kind, x + rng.uniform(0, 0.1) * w, seat_y, ph, facing)
        pic.relate(pet, seat, "on")
        return max(w, L)
    ph = min(0.13 * u, (seat_y - (floor - 0.45 * s)) + 0.3 * s) * rng.uniform(0.8, 0.95)
    pet, L = draw_pet(pic, rng, kind, x + 0.1 * w, floor, min(ph, 0.3 * s), facing)
    pic.relate(pet, seat, "under")
    return max(w, L + 0.1 * w)


def _car_scene(pic, rng, x, floor, u) -> float:
    occupant = str(rng.choice(PEOPLE + PETS)) if rng.random() < 0.8 else None
    return draw_car(pic, rng, x, floor, u * rng.uniform(0.75, 0.95), occupant)


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
        _, _, w = draw_seat(pic, rng, kind, x, floor, 0.34 * u, int(rng.choice([-1, 1])), lone=True)
        return w
    if kind in PEOPLE:
        h = 0.55 * u
        draw_person(pic, rng, kind, x + 0.3 * h, floor, h, int(rng.choice([-1, 1])))
        return 0.6 * h
    if kind in PETS:
        return draw_pet(pic, rng, kind, x, floor, 0.14 * u, int(rng.choice([-1, 1])))[1]
    s = {"Bottle": 0.1, "Mug": 0.06, "Suitcase": 0.18, "Handbag": 0.1, "Backpack": 0.15}[kind] * u
    draw_item(pic, rng, kind, x + 0.4 * s, floor, s, lone=True)
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
    pic = Picture(canvas)
    for _ in range(int(rng.integers(1, 4))):  # shapes of no class on the wall
        size = H * rng.uniform(0.08, 0.2)  # oid's shapes, less its bottle (one of ours)
        mask = _shape_mask(rng, str(rng.choice(WALL_SHAPES)), size)
        colours = _texture(rng, str(rng.choice(WALL_FILLS)), mask.shape, size)
        h, w = mask.shape
        x0, y0 = (
            int(rng.integers(0, max(1, W - w))),
            int(rng.integers(0, max(1, round(floor * 0.5)))),
        )
        region = canvas[y0 : y0 + h, x0 : x0 + w]
        m = mask[: region.shape[0], : region.shape[1]]
        region[m] = colours[: region.shape[0], : region.shape[1]][m]
    x = rng.uniform(0.02, 0.08) * W
    while x < W * 0.92:
        scene = _SCENES[int(rng.choice(len(_SCENES), p=_SCENE_WEIGHTS))]
        if scene is _car_scene and x + 0.95 * u > W:
            continue
        trial = Picture(pic.canvas.copy())  # try on a copy: a scene that overflows is dropped
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
