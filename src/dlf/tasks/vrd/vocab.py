"""What the synthetic VRD data is made of: real challenge label ids and names (a subset of
the 57 classes, all 5 attributes) and the allowed triplets it draws, every one of them in
the real challenge-2019-relationship-triplets.csv (tests/tasks/vrd/test_vrd_synth.py checks
against the real files when present)."""

from dlf.tasks.vrd.files import RELATIONSHIPS

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


__all__ = [
    "ALLOWED_TRIPLETS",
    "ATTRIBUTES",
    "CLASSES",
    "HOLDABLE",
    "LABEL_IDS",
    "MATERIALS",
    "PEOPLE",
    "PETS",
    "RELATIONSHIP_NAMES",
    "SEATS",
    "TABLES",
    "TABLEWARE",
    "WEARABLE",
]
