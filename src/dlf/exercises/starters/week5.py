"""Week 5 exercises: test-time augmentation and Grad-CAM.

Grade with

    dlf check week5 THIS_FILE            (or --only grad_cam)
"""

import torch
from torch import nn


def tta_average(model: nn.Module, x: torch.Tensor, n: int) -> torch.Tensor:
    """Class probabilities for the batch x (B x C x H x W, H = W) averaged over the first n
    of the 8 symmetries of the square, with the model in evaluation mode and no gradients.

    Symmetry k (0-7), as dlf.train.tta.dihedral numbers them: if bit 0 of k is set flip
    left-right (dim -1), then if bit 1 is set flip up-down (dim -2), then if bit 2 is set
    swap H and W (transpose(-1, -2)). Average the softmax of each pass: B x classes.
    """
    raise NotImplementedError


def grad_cam(model: nn.Module, layer: nn.Module, x: torch.Tensor, class_idx: int) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al. 2017) for one image x: 1 x C x H x W.

    A = the output of `layer` (1 x K x h x w) during model(x); y = model(x)[0, class_idx], the
    class's score before any softmax; α_k = the gradient dy/dA_k averaged over the h x w
    positions; heat map = ReLU(Σ_k α_k·A_k), divided by its maximum when that is above 0.
    Returns h x w (catch A with a forward hook: layer.register_forward_hook; remove it after).
    """
    raise NotImplementedError
