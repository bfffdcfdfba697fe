"""The Open Images class hierarchy, and the expansion of ground truth along it.

The challenge's JSON (`challenge-2019-label500-hierarchy.json`) nests `{"LabelName": ...,
"Subcategory": [...]}` under a root that is not a class (`/m/0bl9f`, "Entity"). The
official tool (tensorflow/models, `oid_hierarchical_labels_expansion.py`) flattens it into
ancestors and descendants per LabelName with the root skipped, and expands the ground truth
before scoring:

- a box, and a positive image-level label (Confidence 1), is repeated for every ancestor;
- a negative image-level label (Confidence 0) is repeated for every descendant.

A label may sit under two parents (the official code says some do, and unites the sets of
every place a label occurs); so does this one: its ancestors are the labels on the paths
above each of its places.
"""

from dataclasses import dataclass

import numpy as np

from dlf.core.errors import DlfError

__all__ = ["Hierarchy"]


@dataclass(frozen=True)
class Hierarchy:
    """Ancestors and descendants of each class, as class indices (root skipped, the class
    itself excluded). A class the JSON does not mention has neither."""

    ancestors: tuple[frozenset[int], ...]
    descendants: tuple[frozenset[int], ...]

    @classmethod
    def from_ancestors(cls, ancestors: list[set[int]]) -> "Hierarchy":
        """Build from each class's ancestor set; descendants are the inverse relation."""
        descendants: list[set[int]] = [set() for _ in ancestors]
        for c, ups in enumerate(ancestors):
            for a in ups:
                descendants[a].add(c)
        return cls(tuple(map(frozenset, ancestors)), tuple(map(frozenset, descendants)))

    @classmethod
    def flat(cls, n_classes: int) -> "Hierarchy":
        """No hierarchy: nothing is expanded."""
        return cls.from_ancestors([set() for _ in range(n_classes)])

    @classmethod
    def from_tree(cls, tree: object, classes: dict[str, int], where: str) -> "Hierarchy":
        """The official flattening of the nested JSON object `tree`: the ancestors of a
        label are the labels on the path above each place it occurs (root skipped), united
        over its places. `classes` maps LabelName -> index; `where` starts error lines.

        Refused, in one DlfError line naming the path of labels: a node that is not an
        object with a string LabelName, a Subcategory that is not a list, a label below
        itself (a cycle), a label (other than the root) not in the class list."""
        ancestors: list[set[int]] = [set() for _ in classes]
        # iterative depth-first walk; each entry: (node, labels on the path above it)
        stack: list[tuple[object, tuple[str, ...]]] = [(tree, ())]
        while stack:
            node, path = stack.pop()
            here = " > ".join(path) or "the top level"
            if not isinstance(node, dict) or not isinstance(node.get("LabelName"), str):
                raise DlfError(
                    f"{where}: a node under {here} has no LabelName string; every node "
                    'must be {"LabelName": "/m/...", "Subcategory": [...]}'
                )
            label = node["LabelName"]
            if label in path:
                raise DlfError(
                    f"{where}: {label} occurs below itself ({' > '.join((*path, label))}); "
                    "the hierarchy must be a tree without cycles"
                )
            if path:  # the root is skipped, as the official expansion does
                if label not in classes:
                    raise DlfError(
                        f"{where}: {label} (under {here}) is not in the class list; use "
                        "the hierarchy file that belongs to these classes"
                    )
                ancestors[classes[label]].update(classes[p] for p in path[1:])
            subs = node.get("Subcategory", [])
            if not isinstance(subs, list):
                raise DlfError(
                    f"{where}: the Subcategory of {' > '.join((*path, label))} is a "
                    f"{type(subs).__name__}, expected a list of nodes"
                )
            stack.extend((sub, (*path, label)) for sub in reversed(subs))
        # two places may still order two labels both ways (A above B here, B above A there)
        names = list(classes)
        for c, ups in enumerate(ancestors):
            for a in ups:
                if c in ancestors[a]:
                    raise DlfError(
                        f"{where}: {names[a]} is above {names[c]} in one place and below it "
                        "in another (a cycle); the hierarchy must be a tree"
                    )
        return cls.from_ancestors(ancestors)

    @property
    def n_classes(self) -> int:
        return len(self.ancestors)

    def expand_boxes(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row, label) of the expanded boxes: each row, then one copy per ancestor, in row
        order (the order the official tool writes its expanded file)."""
        return _expand(labels, self.ancestors)

    def expand_labels(
        self, labels: np.ndarray, confidence: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(row, label) of the expanded image-level labels: positives (confidence 1) go up to
        every ancestor, negatives down to every descendant."""
        labels = np.asarray(labels, dtype=np.int64)
        positive = np.asarray(confidence) == 1
        rows_up, up = _expand(labels, self.ancestors)
        rows_down, down = _expand(labels, self.descendants)
        keep_up, keep_down = positive[rows_up], ~positive[rows_down]
        rows = np.concatenate([rows_up[keep_up], rows_down[keep_down]])
        out = np.concatenate([up[keep_up], down[keep_down]])
        order = np.argsort(rows, kind="stable")
        return rows[order], out[order]


def _expand(
    labels: np.ndarray, relatives: tuple[frozenset[int], ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Every row once with its own label, followed by one copy per relative (sorted)."""
    labels = np.asarray(labels, dtype=np.int64)
    # per class: [itself, *sorted relatives] as one flat table with offsets
    lists = [[c, *sorted(r)] for c, r in enumerate(relatives)]
    counts = np.array([len(x) for x in lists], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    flat = np.array([c for x in lists for c in x], dtype=np.int64)
    n = counts[labels] if len(labels) else np.zeros(0, dtype=np.int64)
    rows = np.repeat(np.arange(len(labels)), n)
    starts = np.repeat(offsets[labels] - np.concatenate([[0], np.cumsum(n)[:-1]]), n)
    return rows, flat[starts + np.arange(len(rows))]
