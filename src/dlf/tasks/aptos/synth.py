"""A synthetic APTOS 2019 dataset in the competition's real layout, made to need a model.

Each picture is built the way a fundus camera sees an eye: a reflectance map (orange-red
background with choroidal texture, optic disc, macula, branching vessels, and the lesions of
the grade) times an illumination field (vignetting, a tilt, an occasional flare), then the
camera's colour cast, exposure, gamma, focus and noise, inside black borders.

What makes it need a model rather than a rule on colour: lesions are small (a few pixels
at the sizes we train on) and their counts overlap between neighbouring grades, while the
colour, brightness and disc size change far more from camera to camera than lesions change
them. tests/tasks/aptos/test_synth.py fits the best simple rule on global colour statistics
and checks that it scores badly.

Grades follow DR severity and what graders look for:
  0 none; 1 a few microaneurysms; 2 more, plus haemorrhage blots and some hard exudates;
  3 many haemorrhages and exudates, cotton-wool spots; 4 as 3 plus new-vessel tangles.
"""

import math
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from dlf.core import DlfError, atomic_folder, atomic_write_text
from dlf.tasks.aptos.files import write_submission
from dlf.tasks.common import progress

# Shares of grades 0-4 in the real train.csv (1805, 370, 999, 193, 295 of 3662 images).
GRADE_SHARE = (0.493, 0.101, 0.273, 0.053, 0.080)

# Lesions per grade, (fewest, most), inclusive. Neighbouring grades overlap on purpose:
# the grade is the overall picture, not one count crossing a line.
LESION_COUNTS = {
    "microaneurysm": ((0, 1), (1, 6), (3, 12), (6, 20), (6, 20)),
    "haemorrhage": ((0, 0), (0, 0), (1, 6), (5, 14), (3, 14)),
    "exudate": ((0, 0), (0, 0), (0, 10), (4, 24), (3, 24)),
    "cotton_wool": ((0, 0), (0, 0), (0, 1), (1, 4), (0, 4)),
    "new_vessels": ((0, 0), (0, 0), (0, 0), (0, 0), (1, 3)),
}


def synth_aptos(
    folder: str | os.PathLike,
    n: int = 400,
    n_test: int = 100,
    seed: int = 0,
    width: tuple[int, int] = (200, 400),
) -> Path:
    """Write train.csv, test.csv, sample_submission.csv, train_images/, test_images/.

    Also writes test_labels.csv, the answer key Kaggle keeps private, so that
    `dlf evaluate` can score a submission. The folder must be new or empty; the data is
    built in a temporary folder beside it and renamed into place, so an interrupted run
    leaves nothing half-written. Same seed, same bytes.
    """
    with atomic_folder(folder) as tmp:
        if n < 1 or n_test < 1:
            raise DlfError(f"n={n}, n_test={n_test}: need at least one train and one test image")
        rng = np.random.default_rng(seed)
        ids = _unique_ids(rng, n + n_test)
        grades = np.concatenate([_imbalanced_grades(rng, n), _imbalanced_grades(rng, n_test)])
        for split, sl in (("train", slice(0, n)), ("test", slice(n, n + n_test))):
            (tmp / f"{split}_images").mkdir()
            for k in progress(range(sl.start, sl.stop), sl.stop - sl.start, f"{split} images"):
                img = fundus_image(int(grades[k]), np.random.default_rng((seed, k)), width)
                Image.fromarray(img).save(
                    tmp / f"{split}_images" / f"{ids[k]}.png", compress_level=1
                )
        train_ids, test_ids = ids[:n], ids[n:]
        write_submission(tmp / "train.csv", train_ids, grades[:n])
        atomic_write_text(tmp / "test.csv", "id_code\n" + "".join(f"{i}\n" for i in test_ids))
        write_submission(tmp / "sample_submission.csv", test_ids, [0] * n_test)
        write_submission(tmp / "test_labels.csv", test_ids, grades[n:])
    return Path(folder)


def _unique_ids(rng: np.random.Generator, n: int) -> list[str]:
    """12 hex digits, like the real id_codes."""
    ids: list[str] = []
    seen: set[str] = set()
    while len(ids) < n:
        for x in rng.integers(0, 2**48, n - len(ids)):
            i = f"{int(x):012x}"
            if i not in seen:
                seen.add(i)
                ids.append(i)
    return ids


def _imbalanced_grades(rng: np.random.Generator, n: int) -> np.ndarray:
    """Exactly the real shares (largest remainder rounding), in random order."""
    exact = np.array(GRADE_SHARE) * n
    counts = np.floor(exact).astype(int)
    counts[np.argsort(counts - exact)[: n - counts.sum()]] += 1
    return rng.permutation(np.repeat(np.arange(5), counts))


# ---- one photograph -----------------------------------------------------------------------


def fundus_image(
    grade: int, rng: np.random.Generator, width: tuple[int, int] = (200, 400)
) -> np.ndarray:
    """One synthetic fundus photograph of the given grade, uint8 (H, W, 3), H < W."""
    W = int(rng.integers(width[0], width[1] + 1))
    H = int(W * rng.uniform(0.66, 0.85))
    if rng.random() < 0.35:  # a wide disc cut at the top and bottom, as many cameras do
        R = min(H / 2 * rng.uniform(1.03, 1.2), W * 0.48)
        cx, cy = W / 2 + rng.uniform(-1, 1) * (W / 2 - R), H / 2
    else:
        R = H / 2 * rng.uniform(0.75, 0.97)
        cx = W / 2 + rng.uniform(-1, 1) * (W / 2 - R) * 0.8
        cy = H / 2 + rng.uniform(-1, 1) * (H / 2 - R) * 0.8
    yy, xx = np.mgrid[:H, :W].astype(np.float32)
    dx, dy = (xx - cx) / R, (yy - cy) / R
    rho = np.sqrt(dx * dx + dy * dy)

    side = 1 if rng.random() < 0.5 else -1  # right or left eye: optic disc nasal
    disc = (cx + side * R * rng.uniform(0.3, 0.45), cy + R * rng.uniform(-0.12, 0.12))
    macula = (cx - side * R * rng.uniform(0.0, 0.12), cy + R * rng.uniform(-0.08, 0.08))

    refl = _background(rng, H, W)
    _optic_disc_and_macula(refl, rng, xx, yy, R, disc, macula)
    vessels = Image.new("L", (W, H))
    _vessels(ImageDraw.Draw(vessels), rng, R, disc, side, (cx, cy))
    v_m = np.asarray(vessels.filter(ImageFilter.GaussianBlur(0.6)), np.float32)[..., None] / 255
    refl *= 1 - v_m * np.array([0.35, 0.6, 0.55], np.float32)

    red, yellow, white = (Image.new("L", (W, H)) for _ in range(3))
    _lesions(rng, grade, R, (cx, cy), disc, macula, red, yellow, white)
    red_m = np.asarray(red.filter(ImageFilter.GaussianBlur(0.5)), np.float32)[..., None] / 255
    yel_m = np.asarray(yellow.filter(ImageFilter.GaussianBlur(0.5)), np.float32)[..., None] / 255
    cws_m = np.asarray(white.filter(ImageFilter.GaussianBlur(0.03 * R)), np.float32)[..., None]
    refl *= 1 - red_m * np.array([0.45, 0.75, 0.7], np.float32)
    refl += yel_m * (np.array([1.0, 0.95, 0.55], np.float32) - refl)
    refl += cws_m / 255 * (np.array([0.95, 0.85, 0.75], np.float32) - refl)

    img = refl * _illumination(rng, H, W, dx, dy, rho)[..., None]
    img = _camera(rng, img)
    inside = np.clip((1 - rho) * R / 1.5, 0, 1)  # soft, anti-aliased rim
    img = np.clip(img * inside[..., None] * 255, 0, 255).astype(np.uint8)
    border = inside == 0
    img[border] = rng.integers(0, 4, (int(border.sum()), 3), dtype=np.uint8)  # sensor noise
    out = Image.fromarray(img)
    if rng.random() < 0.12:  # out of focus
        out = out.filter(ImageFilter.GaussianBlur(rng.uniform(1.0, 2.5) * W / 300))
    return np.asarray(out)


def _background(rng, H, W) -> np.ndarray:
    """Reflectance: the fundus colour times choroidal texture, (H, W, 3) in 0-1."""
    r = rng.uniform(0.55, 0.95)
    colour = np.array([r, r * rng.uniform(0.3, 0.6), r * rng.uniform(0.08, 0.35)], np.float32)
    coarse = rng.random((5, 7)).astype(np.float32)
    coarse = np.asarray(Image.fromarray(coarse, "F").resize((W, H), Image.Resampling.BICUBIC))
    texture = 1 + rng.uniform(0.05, 0.15) * (coarse - 0.5) * 2
    texture += rng.normal(0, rng.uniform(0.005, 0.03), (H, W)).astype(np.float32)
    return texture[..., None] * colour


def _optic_disc_and_macula(refl, rng, xx, yy, R, disc, macula) -> None:
    rd = R * rng.uniform(0.11, 0.16)
    d = np.sqrt((xx - disc[0]) ** 2 + ((yy - disc[1]) * rng.uniform(0.85, 1.0)) ** 2) / rd
    a = (np.clip(1.3 - d, 0, 1) * rng.uniform(0.6, 0.9))[..., None]
    refl += a * (np.array([1.0, 0.9, 0.6], np.float32) - refl)
    rm = R * rng.uniform(0.13, 0.22)
    m = np.exp(-(((xx - macula[0]) ** 2 + (yy - macula[1]) ** 2) / (rm * rm)))
    refl *= (1 - rng.uniform(0.1, 0.35) * m)[..., None]


def _vessels(draw, rng, R, disc, side, centre) -> None:
    """Four trunks from the optic disc: two arcades around the macula, two nasal branches."""
    toward_macula = math.pi if side > 0 else 0.0
    for up in (-1, 1):
        # temporal arcade: leaves the disc steeply, bends towards the macula side
        a0 = toward_macula - side * up * rng.uniform(0.9, 1.3)
        _vessel(draw, rng, R, disc, a0, -side * up * 0.18, R * 0.022, 0, centre)
        a1 = (toward_macula + math.pi) + side * up * rng.uniform(0.5, 1.1)  # nasal
        _vessel(draw, rng, R, disc, a1, side * up * 0.08, R * 0.016, 0, centre)


def _vessel(draw, rng, R, start, angle, bend, width, depth, centre) -> None:
    x, y = start
    step = R * 0.06
    shade = int(rng.integers(150, 256))
    for _ in range(int(rng.integers(14, 24)) >> depth):
        angle += bend + rng.normal(0, 0.08)
        nx, ny = x + step * math.cos(angle), y + step * math.sin(angle)
        if math.hypot(nx - centre[0], ny - centre[1]) > R:
            return
        w = max(1, round(width))
        draw.line([(x, y), (nx, ny)], fill=shade, width=w)
        if w > 2:  # round the joint so a thick vessel does not show its segments
            draw.ellipse([nx - w / 2, ny - w / 2, nx + w / 2, ny + w / 2], fill=shade)
        if depth < 2 and rng.random() < 0.2:
            turn = rng.choice([-1, 1]) * rng.uniform(0.4, 1.0)
            _vessel(
                draw, rng, R, (nx, ny), angle + turn, bend * 0.5, width * 0.65, depth + 1, centre
            )
        x, y, width = nx, ny, width * 0.95


def _lesions(rng, grade, R, centre, disc, macula, red, yellow, white) -> None:
    n = {
        kind: int(rng.integers(lo_hi[grade][0], lo_hi[grade][1] + 1))
        for kind, lo_hi in LESION_COUNTS.items()
    }
    draw_red, draw_yel, draw_white = (
        ImageDraw.Draw(red),
        ImageDraw.Draw(yellow),
        ImageDraw.Draw(white),
    )

    def spot(near=None, spread=0.0):
        while True:  # inside the disc, off the optic disc
            if near is None:
                r, t = 0.88 * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
                x, y = centre[0] + R * r * math.cos(t), centre[1] + R * r * math.sin(t)
            else:
                x, y = near[0] + rng.normal(0, spread * R), near[1] + rng.normal(0, spread * R)
            if (
                math.hypot(x - disc[0], y - disc[1]) > 0.2 * R
                and math.hypot(x - centre[0], y - centre[1]) < 0.92 * R
            ):
                return x, y

    def ellipse(draw, x, y, rx, ry, fill):
        draw.ellipse([x - rx, y - ry, x + rx, y + ry], fill=fill)

    for _ in range(n["microaneurysm"]):
        x, y = spot()
        r = max(0.8, R * rng.uniform(0.007, 0.012))
        ellipse(draw_red, x, y, r, r, int(rng.integers(170, 256)))
    for _ in range(n["haemorrhage"]):  # blots: a few overlapping ellipses
        x, y = spot()
        size = R * rng.uniform(0.02, 0.05)
        fill = int(rng.integers(150, 240))
        for _ in range(int(rng.integers(1, 4))):
            ox, oy = rng.normal(0, 0.5 * size, 2)
            ellipse(
                draw_red,
                x + ox,
                y + oy,
                size * rng.uniform(0.6, 1.2),
                size * rng.uniform(0.6, 1.2),
                fill,
            )
    if n["exudate"]:  # hard exudates gather in clusters, often around the macula
        clusters = [spot(macula, 0.25) for _ in range(int(rng.integers(1, 4)))]
        for k in range(n["exudate"]):
            x, y = spot(clusters[k % len(clusters)], 0.07)
            r = R * rng.uniform(0.007, 0.018)
            ellipse(draw_yel, x, y, r, r * rng.uniform(0.7, 1.3), int(rng.integers(150, 230)))
    for _ in range(n["cotton_wool"]):
        x, y = spot()
        r = R * rng.uniform(0.035, 0.06)
        ellipse(draw_white, x, y, r, r * rng.uniform(0.6, 1.0), int(rng.integers(120, 200)))
    for _ in range(n["new_vessels"]):  # a tangle of fine, wandering new vessels
        cx, cy = spot(disc, 0.15) if rng.random() < 0.5 else spot()
        size = R * rng.uniform(0.06, 0.11)
        for _ in range(int(rng.integers(8, 16))):
            start = np.array([cx, cy]) + rng.normal(0, size * 0.5, 2)
            path = start + np.cumsum(rng.normal(0, size * 0.35, (5, 2)), axis=0)
            draw_red.line([tuple(p) for p in path], fill=int(rng.integers(170, 240)), width=1)


def _illumination(rng, H, W, dx, dy, rho) -> np.ndarray:
    """Vignetting towards the rim, a tilt across the disc, and sometimes a bright flare."""
    light = 1 - rng.uniform(0.2, 0.6) * rho ** rng.uniform(2, 4)
    light += rng.uniform(-0.2, 0.2) * dx + rng.uniform(-0.2, 0.2) * dy
    if rng.random() < 0.25:  # a flare near the rim from the camera's light source
        t = rng.uniform(0, 2 * math.pi)
        fx, fy = 0.8 * math.cos(t), 0.8 * math.sin(t)
        light += rng.uniform(0.15, 0.5) * np.exp(-((dx - fx) ** 2 + (dy - fy) ** 2) / 0.08)
    return np.clip(light, 0.15, None)


def _camera(rng, img) -> np.ndarray:
    """Colour cast, exposure (with faults), gamma and noise of a particular camera."""
    gains = rng.uniform(0.8, 1.2, 3).astype(np.float32)
    u = rng.random()
    exposure = (
        rng.uniform(0.35, 0.6)
        if u < 0.1
        else rng.uniform(1.4, 1.9)
        if u < 0.18
        else rng.uniform(0.8, 1.2)
    )
    img = np.clip(img * gains * exposure, 0, 1) ** rng.uniform(0.8, 1.25)
    return img + rng.normal(0, rng.uniform(0.002, 0.012), img.shape).astype(np.float32)
