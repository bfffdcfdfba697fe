"""Score a trained vrd run's pair and attribute heads alone, on the validation images' own
truth boxes, beside the prior on the same boxes (dlf.tasks.vrd.truth_boxes).

    python examples/vrd_heads_on_truth_boxes.py RUN [--data DIR]
"""

import argparse
from pathlib import Path

from dlf.tasks.vrd.truth_boxes import heads_on_truth_boxes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("--data", type=Path, default=None)
    args = ap.parse_args()
    heads, prior = heads_on_truth_boxes(args.run, args.data)
    for name, r in (("heads on truth boxes", heads), ("prior on truth boxes", prior)):
        print(f"{name}: score {r.score:.4f}, mAP relationships {r.map_relationships:.4f}, "
              f"Recall@50 {r.recall50:.4f}, mAP phrases {r.map_phrases:.4f}")  # fmt: skip
        aps = ", ".join(f"{k} {v:.3f}" for k, v in sorted(r.ap_relationships.items()))
        print(f"  AP per relationship: {aps}")


if __name__ == "__main__":
    main()
