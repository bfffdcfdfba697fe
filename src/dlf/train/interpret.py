"""Interpretation of a trained classifier: which validation items it gets most wrong (top
losses), which classes it confuses (per-class errors), and where in an image it looked
(Grad-CAM, Selvaraju et al. 2017).

Grad-CAM in three lines, for one image and one output score y:
  A = the activations of a chosen layer (K channels of h x w), G = dy/dA (same shape);
  alpha_k = mean over the h x w positions of G_k   (how much channel k matters to y);
  cam = ReLU(sum_k alpha_k A_k)                    (where the channels that matter fire).
The map is h x w (the layer's resolution); `grad_cam` upsamples it to the input's size.
"""

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def default_cam_layer(
    model: nn.Module, input_size: int | None = None, min_cells: int = 4
) -> nn.Module | None:
    """The layer Grad-CAM hooks by default: the backbone's last feature stage (the module
    that `feature_info` names last, as for every dlf/timm-shaped classifier), else the last
    convolution in the model; None when the model has neither.

    input_size: when given, the deepest stage whose map is still at least `min_cells` cells
    across at that input size (a 64 px image leaves a ResNet's last stage 2 x 2: a heat map
    of four squares; the stage before it is 4 x 4)."""
    info = getattr(model, "feature_info", None)
    if info:
        fine = [f for f in info if input_size is None or input_size // f["reduction"] >= min_cells]
        return model.get_submodule((fine or info)[-1]["module"])
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1] if convs else None


def _scores(out: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """One number per item to explain: the `target` class's logit, the top class's when no
    target is given, or the output itself for a one-output head (a regression)."""
    out = out.float()
    if out.ndim == 1 or out.shape[-1] == 1:
        return out.reshape(len(out))
    if target is None:
        target = out.argmax(-1)
    return out.gather(1, target.view(-1, 1).long().to(out.device)).view(-1)


def grad_cam(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor | None = None,
    layer: nn.Module | None = None,
    upsample: bool = True,
    normalize: bool = True,
) -> torch.Tensor:
    """Grad-CAM maps, N x H x W (the input's size when `upsample`, else the layer's).

    target: the class to explain per item (default: the predicted one; ignored for a
      one-output head). layer: the module whose output is explained (default
      `default_cam_layer`). normalize: each map divided by its maximum, so it reads 0..1
      (an all-zero map stays zero).
    The model is run in eval mode (BatchNorm uses its running statistics, so items do not
    affect each other) and put back in the mode it was in; its gradients are left untouched."""
    layer = layer if layer is not None else default_cam_layer(model)
    if layer is None:
        raise ValueError("grad_cam: the model has no convolution to explain; pass layer=")
    acts: list[torch.Tensor] = []
    # A forward hook keeps the layer's output; autograd.grad then asks for dy/dA directly,
    # so no backward hook and no .grad field of the parameters is involved.
    handle = layer.register_forward_hook(lambda _m, _i, out: acts.append(out))
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            out = model(x)
            (a,) = acts
            (g,) = torch.autograd.grad(_scores(out, target).sum(), a)
    finally:
        handle.remove()
        model.train(was_training)
    alpha = g.float().mean(dim=(2, 3), keepdim=True)  # N x K x 1 x 1
    cam = F.relu((alpha * a.detach().float()).sum(1))  # N x h x w
    if upsample and cam.shape[-2:] != x.shape[-2:]:
        cam = F.interpolate(cam[:, None], size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]  # fmt: skip
    if normalize:
        cam = cam / cam.flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1)
    return cam


def item_losses(loss_func: Callable, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Each item's loss under the training loss (called on one item at a time, so a loss
    with mean reduction gives that item's own value)."""
    return torch.stack(
        [loss_func(out[i : i + 1], target[i : i + 1]).detach().float() for i in range(len(out))]
    )


def top_losses(losses: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the k largest losses, largest first."""
    return torch.argsort(losses, descending=True, stable=True)[: min(k, len(losses))]


def per_class_errors(confusion: np.ndarray, labels: Sequence[str]) -> list[dict]:
    """One row per true class of a confusion matrix (rows true, columns predicted): how many
    items, how many wrong, the error rate and the class it is most often mistaken for."""
    confusion = np.asarray(confusion)
    rows = []
    for i, name in enumerate(labels):
        n, right = int(confusion[i].sum()), int(confusion[i, i])
        others = confusion[i].copy()
        others[i] = 0
        worst = int(others.argmax())
        rows.append({
            "class": str(name), "items": n, "wrong": n - right,
            "error rate": (n - right) / n if n else float("nan"),
            "most often taken for": f"{labels[worst]} ({int(others[worst])})" if others[worst] else "-",
        })  # fmt: skip
    return rows


def cam_overlay(image: np.ndarray, cam: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """An H x W x 3 uint8 picture: the image in gray-or-colour with the 0..1 heat map laid
    over it in a jet-like ramp (blue cold, red hot); the map is resized to the image."""
    img = np.asarray(image)
    img = np.repeat(img[..., None], 3, -1) if img.ndim == 2 else img
    img = np.repeat(img, 3, -1) if img.shape[-1] == 1 else img[..., :3]
    h, w = img.shape[:2]
    heat = torch.as_tensor(np.asarray(cam, np.float32))[None, None]
    heat = F.interpolate(heat, size=(h, w), mode="bilinear", align_corners=False)[0, 0].numpy()
    heat = np.clip(heat, 0, 1)
    ramp = np.stack([np.clip(1.5 - np.abs(4 * heat - c), 0, 1) for c in (3, 2, 1)], -1)
    out = (1 - alpha) * img.astype(np.float32) / 255 + alpha * ramp
    return (np.clip(out, 0, 1) * 255).astype(np.uint8)


class Interpretation:
    """A trained classifier's validation predictions, ready to be asked why (fastai's
    `ClassificationInterpretation`, on dlf's one inference loop):

        interp = Interpretation.from_learner(learn)
        worst = interp.top_losses(9)           # indices into the validation set
        cams = interp.grad_cam(worst)          # 9 x H x W heat maps, 0..1

    outputs: the raw model outputs (no activation, no TTA); targets: the loss's targets;
    losses: each item's loss under the training loss."""

    def __init__(self, learn, dl, outputs: torch.Tensor, targets: torch.Tensor, losses: torch.Tensor) -> None:  # fmt: skip
        self.learn, self.dl = learn, dl
        self.outputs, self.targets, self.losses = outputs, targets, losses

    @classmethod
    def from_learner(cls, learn, dl=None, loss_func: Callable | None = None) -> "Interpretation":
        dl = dl if dl is not None else learn.dls.valid
        outputs, *targets = learn.get_preds(dl)
        if len(targets) != 1 or not isinstance(outputs, torch.Tensor):
            raise ValueError("Interpretation needs one output tensor and one target per item")
        (target,) = targets
        losses = item_losses(loss_func or learn.loss_func, outputs, target)
        return cls(learn, dl, outputs, target, losses)

    def top_losses(self, k: int = 9) -> torch.Tensor:
        return top_losses(self.losses, k)

    def inputs(self, indices: Sequence[int]) -> torch.Tensor:
        """The model inputs (after the validation transforms, on the learner's device) of the
        items at `indices` of the loader, in the order asked for."""
        want = {int(j): n for n, j in enumerate(indices)}
        found: dict[int, torch.Tensor] = {}
        start = 0
        for batch in self.dl:
            (x,) = self.learn.dls.split(batch)[0][:1]
            for j in range(start, start + len(x)):
                if j in want:
                    found[j] = x[j - start]
            start += len(x)
            if len(found) == len(want):
                break
        return torch.stack([found[int(j)] for j in indices])

    def grad_cam(self, indices: Sequence[int], layer: nn.Module | None = None, target=None) -> torch.Tensor:  # fmt: skip
        """Grad-CAM maps (see `grad_cam`) of the items at `indices`, explaining the predicted
        class (or `target`'s), in fp32; `layer` defaults to the deepest feature stage still
        4 cells across at the inputs' size (see `default_cam_layer`)."""
        x = self.inputs(indices).float()
        layer = (
            layer if layer is not None else default_cam_layer(self.learn.model, min(x.shape[-2:]))
        )
        return grad_cam(self.learn.model, x, target, layer).cpu()


__all__ = [
    "Interpretation",
    "cam_overlay",
    "default_cam_layer",
    "grad_cam",
    "item_losses",
    "per_class_errors",
    "top_losses",
]
