"""Painting the synthetic VRD pictures: a canvas that remembers each object's pixels, simple
shapes, the five materials that show an attribute, and the things (people, pets, tables,
seats, small objects, cars) drawn from a few numbers each. synth.py arranges them in scenes.
"""

import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

from dlf.tasks.oid.synth import _shape_mask, _texture
from dlf.tasks.vrd.vocab import MATERIALS, PEOPLE

ATTRIBUTE_SHARE = 0.65  # of the objects that may have an attribute, those that show one

Draw = Callable[[ImageDraw.ImageDraw], None]
Texture = Callable[[int, int, np.ndarray], np.ndarray]  # (h, w, pixels under) -> colours


class Picture:
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


def rect(x0, y0, x1, y1) -> Draw:
    return lambda d: d.rectangle([min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)], fill=255)


def ellipse(cx, cy, rx, ry) -> Draw:
    return lambda d: d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)


def poly(points) -> Draw:
    return lambda d: d.polygon([tuple(p) for p in points], fill=255)


def line(points, width) -> Draw:
    return lambda d: d.line([tuple(p) for p in points], fill=255, width=max(1, round(width)))


def plain(colour) -> Texture:
    c = np.asarray(colour, np.float32)
    return lambda h, w, under: np.broadcast_to(c, (h, w, 3))


def material_texture(rng, name: str | None) -> Texture:
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


def pick_material(rng, label: str, lone: bool = False) -> str | None:
    options = MATERIALS.get(label, ())
    if lone or not options or rng.random() >= ATTRIBUTE_SHARE:
        return None
    return str(rng.choice(options))


def paint_object(pic: Picture, rng, label: str, shapes: list[Draw], material: str | None) -> int:
    """Paint one object of `shapes` in a material and add it (and its `is` row)."""
    mask = pic.mask(*shapes)
    pic.paint(mask, material_texture(rng, material))
    i = pic.add(label, mask)
    if material is not None:
        pic.relate(i, material, "is")
    return i


# ---- the things ------------------------------------------------------------------------------


def draw_item(pic, rng, label: str, cx: float, bottom: float, s: float, lone=False) -> int:
    """A small thing `s` px high standing with its bottom at `bottom`, centred at cx."""
    material = pick_material(rng, label, lone)
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
            rect(cx - 0.35 * s, top, cx + 0.3 * s, bottom),
            lambda d: d.ellipse(
                [cx + 0.15 * s, top + 0.2 * s, cx + 0.55 * s, bottom - 0.25 * s],
                outline=255, width=max(1, round(0.1 * s)),
            ),
        ]  # fmt: skip
    elif label == "Wine glass":
        shapes = [
            ellipse(cx, top + 0.25 * s, 0.28 * s, 0.26 * s),
            rect(cx - 0.04 * s, top + 0.45 * s, cx + 0.04 * s, bottom),
            ellipse(cx, bottom - 0.04 * s, 0.22 * s, 0.05 * s),
        ]
        material = None  # glass is always see-through, and the list allows it no `is`
    elif label == "Guitar":
        shapes = [
            ellipse(cx, bottom - 0.2 * s, 0.2 * s, 0.2 * s),
            ellipse(cx, bottom - 0.47 * s, 0.15 * s, 0.15 * s),
            rect(cx - 0.035 * s, top + 0.08 * s, cx + 0.035 * s, bottom - 0.5 * s),
            rect(cx - 0.06 * s, top, cx + 0.06 * s, top + 0.1 * s),
        ]
    elif label == "Mobile phone":
        shapes = [
            lambda d: d.rounded_rectangle([cx - 0.27 * s, top, cx + 0.27 * s, bottom], 2, fill=255)
        ]
    elif label == "Handbag":
        shapes = [
            poly([(cx - 0.35 * s, top + 0.4 * s), (cx + 0.35 * s, top + 0.4 * s),
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
        pic.paint(mask, material_texture(rng, "Transparent"))
        i = pic.add(label, mask)
    else:
        i = paint_object(pic, rng, label, shapes, material)
    if label == "Mobile phone":  # a lit screen
        pic.paint(pic.mask(rect(cx - 0.2 * s, top + 0.1 * s, cx + 0.2 * s, bottom - 0.15 * s)),
                  plain(rng.uniform(0.6, 0.9, 3)))  # fmt: skip
    return i


def draw_table(
    pic, rng, label: str, x0: float, floor: float, u: float
) -> tuple[int, float, float, float]:
    """A table standing on the floor: (its index, top y, left, right)."""
    w = {"Table": 0.42, "Desk": 0.46, "Coffee table": 0.5}[label] * u * rng.uniform(0.9, 1.1)
    h = {"Table": 0.3, "Desk": 0.32, "Coffee table": 0.15}[label] * u * rng.uniform(0.9, 1.1)
    top, slab = floor - h, h * (0.12 if label != "Coffee table" else 0.25)
    leg = w * 0.08
    shapes = [
        rect(x0, top, x0 + w, top + slab),
        rect(x0 + 0.04 * w, top, x0 + 0.04 * w + leg, floor),
    ]
    if label == "Desk":  # a block of drawers on the right
        shapes.append(rect(x0 + 0.62 * w, top, x0 + w, floor))
    else:
        shapes.append(rect(x0 + 0.96 * w - leg, top, x0 + 0.96 * w, floor))
    i = paint_object(pic, rng, label, shapes, pick_material(rng, label))
    if label == "Desk":
        for f in (0.4, 0.7):
            y = top + f * h
            pic.paint(
                pic.mask(line([(x0 + 0.66 * w, y), (x0 + 0.96 * w, y)], 1)), plain((0.1,) * 3)
            )
    return i, top, x0, x0 + w


def draw_seat(pic, rng, label, x0, floor, s, facing, lone=False) -> tuple[int, float, float]:
    """A Chair (back on the side away from `facing`) or a Bench: (index, seat top y, width)."""
    if label == "Chair":
        w, seat_y = 0.45 * s, floor - 0.45 * s
        back_x = x0 if facing > 0 else x0 + w - 0.08 * s
        shapes = [
            rect(x0, seat_y, x0 + w, seat_y + 0.07 * s),
            rect(back_x, floor - s, back_x + 0.08 * s, seat_y),
            rect(x0 + 0.02 * s, seat_y, x0 + 0.08 * s, floor),
            rect(x0 + w - 0.08 * s, seat_y, x0 + w - 0.02 * s, floor),
        ]
    else:
        w, seat_y = 1.1 * s, floor - 0.4 * s
        shapes = [rect(x0, seat_y, x0 + w, seat_y + 0.09 * s)]
        shapes += [
            rect(x0 + f * w, seat_y, x0 + f * w + 0.07 * s, floor) for f in (0.05, 0.47, 0.88)
        ]
    i = paint_object(pic, rng, label, shapes, pick_material(rng, label, lone))
    return i, seat_y, w


def draw_pet(pic, rng, label, x0, bottom, ph, facing) -> tuple[int, float]:
    """A Cat (pointed ears, a tail up, stripes) or Dog (hanging ears, a snout, spots)
    `ph` px high standing on `bottom`: (index, length)."""
    L = (1.5 if label == "Cat" else 1.35) * ph

    def X(u):  # local x to picture x, mirrored when facing left
        return x0 + u * L if facing > 0 else x0 + L - u * L

    def y(v):
        return bottom - v * ph

    shapes = [ellipse((X(0.15) + X(0.75)) / 2, y(0.42), 0.3 * L, 0.2 * ph)]
    for u in (0.22, 0.32, 0.6, 0.68):
        shapes.append(rect(X(u), y(0.4), X(u + 0.06), bottom))
    head_x = X(0.82)
    if label == "Cat":
        r = 0.2 * ph
        shapes += [
            ellipse(head_x, y(0.65), r, r),
            poly([(head_x - r, y(0.7)), (head_x - 0.5 * r, y(1.0)), (head_x, y(0.75))]),
            poly([(head_x, y(0.75)), (head_x + 0.5 * r, y(1.0)), (head_x + r, y(0.7))]),
            line([(X(0.15), y(0.45)), (X(0.02), y(0.85))], 0.06 * ph),
        ]
        kind = "stripes"
    else:
        r = 0.2 * ph
        shapes += [
            ellipse(head_x, y(0.72), r, r),
            rect(head_x, y(0.72), X(1.0), y(0.55)),
            ellipse(head_x - 0.15 * L * facing, y(0.62), 0.07 * L, 0.2 * ph),
            line([(X(0.15), y(0.55)), (X(0.04), y(0.75))], 0.06 * ph),
        ]
        kind = "dots"
    mask = pic.mask(*shapes)
    pic.paint(mask, lambda h, w, under: _texture(rng, kind, (h, w), ph))
    return pic.add(label, mask), L


def draw_person(
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
            rect(cx - 0.09 * h, hip, cx - 0.02 * h, floor),
            rect(cx + 0.02 * h, hip, cx + 0.09 * h, floor),
        ]
    else:
        legs = [rect(cx, seat_y - 0.09 * h, cx + facing * 0.3 * h, seat_y)]
    if label == "Man":
        body = poly(
            [
                (cx - 0.13 * h, shoulder),
                (cx + 0.13 * h, shoulder),
                (cx + 0.1 * h, hip),
                (cx - 0.1 * h, hip),
            ]
        )
    else:
        hem = top + 0.72 * h if seat_y is None else hip
        body = poly(
            [
                (cx - 0.08 * h, shoulder),
                (cx + 0.08 * h, shoulder),
                (cx + 0.17 * h, hem),
                (cx - 0.17 * h, hem),
            ]
        )
    hand = (cx + facing * 0.27 * h, top + 0.47 * h)
    arm = line([(cx + facing * 0.1 * h, shoulder + 0.03 * h), hand], 0.05 * h)
    parts = [
        (legs, legs_c), ([body], cloth), ([arm], cloth),
        ([ellipse(cx, top + r, r, r), ellipse(*hand, 0.035 * h, 0.035 * h)], skin),
    ]  # fmt: skip
    mask = np.zeros((pic.H, pic.W), bool)
    for shapes, colour in parts:
        m = pic.mask(*shapes)
        pic.paint(m, plain(colour))
        mask |= m
    return pic.add(label, mask), hand, shoulder


def draw_car(pic, rng, x0, floor, L, occupant: str | None) -> float:
    """A Car on the floor; an occupant's head and shoulders show through its window."""
    body = [
        lambda d: d.rounded_rectangle([x0, floor - 0.3 * L, x0 + L, floor - 0.08 * L], 0.05 * L, fill=255),
        poly([(x0 + 0.18 * L, floor - 0.29 * L), (x0 + 0.3 * L, floor - 0.5 * L),
               (x0 + 0.72 * L, floor - 0.5 * L), (x0 + 0.86 * L, floor - 0.29 * L)]),
    ]  # fmt: skip
    wheels = [ellipse(x0 + f * L, floor - 0.1 * L, 0.1 * L, 0.1 * L) for f in (0.22, 0.78)]
    window = pic.mask(poly([(x0 + 0.26 * L, floor - 0.3 * L), (x0 + 0.34 * L, floor - 0.46 * L),
                             (x0 + 0.7 * L, floor - 0.46 * L), (x0 + 0.79 * L, floor - 0.3 * L)]))  # fmt: skip
    car_mask = pic.mask(*body, *wheels)
    pic.paint(pic.mask(*body), plain(rng.uniform(0.1, 0.95, 3)))
    pic.paint(pic.mask(*wheels), plain((0.08, 0.08, 0.08)))
    pic.paint(window, plain(rng.uniform(0.7, 0.85) * np.array([0.85, 0.95, 1.0])))
    car = pic.add("Car", car_mask)
    if occupant is not None:
        cx = x0 + rng.uniform(0.4, 0.62) * L
        head_y, r = floor - 0.4 * L, 0.045 * L
        if occupant in PEOPLE:
            shapes = [
                ellipse(cx, head_y, r, r),
                ellipse(cx, floor - 0.28 * L, 0.09 * L, 0.07 * L),
            ]
            colour = rng.uniform(0.2, 0.9, 3)
        else:
            shapes = [ellipse(cx, head_y + 0.02 * L, r, r)]
            ear = 0.03 * L
            if occupant == "Cat":
                shapes.append(
                    poly([(cx - r, head_y), (cx - r / 2, head_y - r - ear), (cx, head_y)])
                )
                shapes.append(
                    poly([(cx, head_y), (cx + r / 2, head_y - r - ear), (cx + r, head_y)])
                )
            else:
                shapes.append(ellipse(cx - r, head_y + r / 2, r / 3, r))
                shapes.append(ellipse(cx + r, head_y + r / 2, r / 3, r))
            colour = rng.uniform(0.3, 0.8, 3) * np.array([1.0, 0.8, 0.55])
        seen = pic.mask(*shapes) & window
        pic.paint(seen, plain(colour))
        if seen.sum() >= 6:
            pic.relate(pic.add(occupant, seen), car, "inside_of")
    return L


__all__ = [
    "ATTRIBUTE_SHARE",
    "Draw",
    "Picture",
    "Texture",
    "draw_car",
    "draw_item",
    "draw_person",
    "draw_pet",
    "draw_seat",
    "draw_table",
    "ellipse",
    "line",
    "material_texture",
    "paint_object",
    "pick_material",
    "plain",
    "poly",
    "rect",
]
