"""Look at the data: a matplotlib grid of images with labels, masks overlaid, boxes drawn.

Inline in a notebook (the figure is returned and shown by Jupyter); with `save=path` the grid
is also written as a PNG. Without a display, matplotlib's Agg backend is used.
"""

import os

import numpy as np
import torch

from dlf.core.atomic import atomic_write_bytes


def _plt():
    import matplotlib

    if not os.environ.get("DISPLAY") and "inline" not in matplotlib.get_backend().lower():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _to_hwc(x: torch.Tensor) -> np.ndarray:
    x = x.detach().float().cpu()
    if x.max() > 1.5:  # uint8 range
        x = x / 255
    if x.min() < -0.01:  # normalised: stretch each image to 0..1 for display
        x = (x - x.min()) / (x.max() - x.min() + 1e-8)
    arr = x.clamp(0, 1).permute(1, 2, 0).numpy()
    return arr[..., 0] if arr.shape[-1] == 1 else arr[..., :3]


def _title(y, kind: str, vocab) -> str:
    if kind == "label":
        i = int(y.argmax()) if y.dim() else int(y)
        return str(vocab[i]) if vocab else str(i)
    if kind == "multilabel":
        on = torch.nonzero(y > 0.5).flatten().tolist()
        return ";".join(str(vocab[i]) if vocab else str(i) for i in on)
    if kind == "regression":
        return ", ".join(f"{v:.3g}" for v in y.flatten().tolist()[:4])
    return ""


def show_batch(
    batch: tuple,
    kinds=("image", "label"),
    vocab=None,
    max_n: int = 9,
    ncols: int = 3,
    titles=None,
    save=None,
    figsize_per: float = 2.5,
):
    """Draw up to `max_n` items of a batch tuple; returns the matplotlib figure."""
    plt = _plt()
    n = min(max_n, batch[0].shape[0])
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(ncols * figsize_per, nrows * figsize_per), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        parts = []
        for x, kind in zip(batch, kinds):
            if kind == "image":
                ax.imshow(_to_hwc(x[i]), cmap="gray")
            elif kind == "mask":
                ax.imshow(
                    x[i].detach().cpu().numpy(), alpha=0.4, cmap="tab20", interpolation="nearest"
                )
            elif kind == "boxes":
                for x1, y1, x2, y2 in x[i].detach().cpu().tolist():
                    if x2 > x1 and y2 > y1:
                        ax.add_patch(
                            plt.Rectangle(
                                (x1, y1), x2 - x1, y2 - y1, fill=False, color="yellow", lw=1.5
                            )
                        )
            else:
                parts.append(_title(x[i], kind, vocab))
        ax.set_title(titles[i] if titles else " ".join(p for p in parts if p), fontsize=9)
    fig.tight_layout()
    if save is not None:
        import io

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        atomic_write_bytes(save, buf.getvalue())
    return fig


def show_results(
    batch: tuple,
    preds: torch.Tensor,
    kinds=("image", "label"),
    vocab=None,
    max_n: int = 9,
    save=None,
    **kw,
):
    """Like show_batch, titled "target / prediction" (class outputs are argmaxed)."""
    target = batch[1]
    kind = kinds[1]
    titles = []
    for i in range(min(max_n, batch[0].shape[0])):
        p = preds[i]
        titles.append(
            f"{_title(target[i], kind, vocab)} / {_title(p if kind != 'label' else p.argmax(), kind, vocab)}"
        )
    if kind == "mask":  # overlay the predicted mask instead of the target
        pm = preds.argmax(1) if preds.dim() == 4 else preds
        batch = (batch[0], pm, *batch[2:])
        titles = None
    return show_batch(batch, kinds, vocab, max_n=max_n, titles=titles, save=save, **kw)
