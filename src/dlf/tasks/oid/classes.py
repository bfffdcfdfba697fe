"""The class subset of the synthetic Open Images dataset: real ids, real names, real parents.

Twelve leaf classes under four parents, all from the challenge's 500-class list
(`challenge-2019-classes-description-500.csv`; tests check ids and names against it when
the real file is at hand). The parent links are Open Images' own: each leaf sits directly
under its parent in `bbox_labels_600_hierarchy.json` (the Open Images V4 hierarchy, of
which the challenge's 500-class hierarchy keeps a subset), and each leaf has only that one
parent there. The four parents hang from the root in the 500-class hierarchy: their own
parents there, Food (/m/02wbm) for Fruit and Plant (/m/05s2s) for Flower, are not among
the 500 classes, and Toy and Drink are children of the root. So this small tree is the real
tree cut down to these classes, and the metric's expansion up and down it is the real one.
"""

ROOT = "/m/0bl9f"  # "Entity": the hierarchy file's root, not itself a class

# parent (LabelName, DisplayName) -> its leaves, in a fixed order: a leaf's position says
# which texture it wears in the synthetic images (see synth.py)
TREE: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("/m/02xwb", "Fruit"): (
        ("/m/014j1m", "Apple"),
        ("/m/0cyhj_", "Orange"),
        ("/m/09k_b", "Lemon"),
    ),
    ("/m/0138tl", "Toy"): (
        ("/m/0167gd", "Doll"),
        ("/m/01j51", "Balloon"),
        ("/m/029b3", "Dice"),
    ),
    ("/m/0271t", "Drink"): (
        ("/m/01599", "Beer"),
        ("/m/081qc", "Wine"),
        ("/m/01z1kdw", "Juice"),
    ),
    ("/m/0c9ph5", "Flower"): (
        ("/m/06m11", "Rose"),
        ("/m/0ftb8", "Sunflower"),
        ("/m/0jqgx", "Lily"),
    ),
}

PARENTS: tuple[str, ...] = tuple(label for label, _ in TREE)
LEAVES: tuple[str, ...] = tuple(label for leaves in TREE.values() for label, _ in leaves)
# every class of the subset, parents first, as the class description file lists them
DISPLAY_NAMES: dict[str, str] = {
    **{label: name for label, name in TREE},
    **{label: name for leaves in TREE.values() for label, name in leaves},
}
PARENT_OF: dict[str, str] = {
    leaf: parent for (parent, _), leaves in TREE.items() for leaf, _ in leaves
}


def hierarchy() -> dict:
    """The subset's hierarchy in the challenge's JSON format: nested dicts of `LabelName`
    and, for a class with children, `Subcategory` (a leaf has no `Subcategory` key)."""
    return {
        "LabelName": ROOT,
        "Subcategory": [
            {"LabelName": parent, "Subcategory": [{"LabelName": leaf} for leaf, _ in leaves]}
            for (parent, _), leaves in TREE.items()
        ],
    }


__all__ = ["DISPLAY_NAMES", "LEAVES", "PARENTS", "PARENT_OF", "ROOT", "TREE", "hierarchy"]
