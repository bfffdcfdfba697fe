"""Interpretation: Grad-CAM's arithmetic against a hand computation, Grad-CAM on a model whose
answer is known (it can only see one half of the image), top losses and per-class errors."""

import numpy as np
import pytest
import torch
from torch import nn

from dlf.models import create_model
from dlf.train.interpret import (
    cam_overlay,
    default_cam_layer,
    grad_cam,
    item_losses,
    per_class_errors,
    top_losses,
)


class HandNet(nn.Module):
    """A 1x1 conv with fixed weights (A_0 = x, A_1 = 0.5 - x) and a head whose gradients are
    easy by hand: y = sum(A_0 ** 2) / 4 + 3 * mean(A_1); the second output is -y."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
            self.conv.bias.copy_(torch.tensor([0.0, 0.5]))

    def forward(self, x):
        a = self.conv(x)
        y = (a[:, 0] ** 2).sum((1, 2)) / 4 + 3 * a[:, 1].mean((1, 2))
        return torch.stack([y, -y], 1)


def test_grad_cam_matches_a_hand_computation():
    # Worked by hand for x = [[1, 2], [3, -1]]:
    #   A_0 = x, A_1 = 0.5 - x = [[-0.5, -1.5], [-2.5, 1.5]]
    #   dy/dA_0 = A_0 / 2 -> alpha_0 = mean([0.5, 1, 1.5, -0.5]) = 0.625
    #   dy/dA_1 = 3/4 everywhere -> alpha_1 = 0.75
    #   0.625 A_0 + 0.75 A_1 = [[0.25, 0.125], [0, 0.5]] (already >= 0, so ReLU keeps it)
    x = torch.tensor([[1.0, 2.0], [3.0, -1.0]]).view(1, 1, 2, 2)
    net = HandNet()
    want = torch.tensor([[0.25, 0.125], [0.0, 0.5]])
    cam = grad_cam(net, x, torch.tensor([0]), layer=net.conv, upsample=False, normalize=False)
    torch.testing.assert_close(cam[0], want)
    # the predicted class (y = 1.5 > -1.5 -> class 0) is the default target
    torch.testing.assert_close(grad_cam(net, x, layer=net.conv, upsample=False, normalize=False)[0], want)  # fmt: skip
    # normalised: divided by its maximum, 0.5
    torch.testing.assert_close(grad_cam(net, x, layer=net.conv, upsample=False)[0], want / 0.5)
    # class 1 is -y: every alpha flips sign, every position is negative, ReLU leaves zeros
    neg = grad_cam(net, x, torch.tensor([1]), layer=net.conv, upsample=False, normalize=False)
    assert torch.equal(neg[0], torch.zeros(2, 2))
    # the model's parameters get no gradient from explaining it
    assert net.conv.weight.grad is None


def test_default_layer_is_the_last_feature_stage():
    model = create_model("resnet18", num_classes=3)
    assert default_cam_layer(model) is model.layer4
    cam = grad_cam(model, torch.randn(2, 3, 64, 64))
    assert cam.shape == (2, 64, 64) and float(cam.min()) >= 0 and float(cam.max()) <= 1
    assert default_cam_layer(nn.Sequential(nn.Linear(3, 2))) is None
    # at 64 px layer4 (stride 32) is 2 x 2; the deepest stage at least 4 cells across is layer3
    assert default_cam_layer(model, input_size=64) is model.layer3
    assert default_cam_layer(model, input_size=128) is model.layer4
    assert default_cam_layer(model, input_size=4) is model.layer4  # none is fine enough: the last


class HalfBlindNet(nn.Module):
    """Sees only the left half of a 32 x 32 image: the right half is multiplied by zero before
    the first convolution, so nothing there can reach the output."""

    def __init__(self) -> None:
        super().__init__()
        mask = torch.zeros(1, 1, 32, 32)
        mask[..., :16] = 1
        self.register_buffer("mask", mask)
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
        )  # fmt: skip
        self.fc = nn.Linear(16, 2)

    def forward(self, x):
        return self.fc(self.features(x * self.mask).amax((2, 3)))


def blob_images(n: int, g: torch.Generator):
    """Label 1: a bright 4 x 4 square somewhere in the left half. Every image also has a
    square at random in the right half (a distractor the label ignores), so "is there a
    bright square anywhere" is no better than chance and a model must look left."""
    x = torch.randn(n, 1, 32, 32, generator=g) * 0.3
    y = torch.randint(0, 2, (n,), generator=g)
    where = []
    for i in range(n):
        r, c = torch.randint(2, 26, (2,), generator=g).tolist()
        x[i, 0, r : r + 4, 16 + c % 12 : 16 + c % 12 + 4] += 2.0  # distractor, right half
        r, c = torch.randint(2, 26, (1,), generator=g).item(), torch.randint(1, 12, (1,), generator=g).item()  # fmt: skip
        if y[i]:
            x[i, 0, r : r + 4, c : c + 4] += 2.0
        where.append((r + 1.5, c + 1.5))
    return x, y, where


def test_grad_cam_lights_the_only_region_the_model_can_see():
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    net = HalfBlindNet()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(150):
        x, y, _ = blob_images(32, g)
        loss = nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y, where = blob_images(64, g)
    with torch.no_grad():
        acc = float((net(x).argmax(1) == y).float().mean())
    assert acc > 0.9, f"the half-blind model did not learn the task ({acc:.2f})"
    pos = y.bool()
    cam = grad_cam(net, x[pos], torch.ones(int(pos.sum()), dtype=torch.long), layer=net.features)
    left, right = cam[..., :16].sum((1, 2)), cam[..., 16:].sum((1, 2))
    # every positive's map lies in the half the model can see (the distractor is ignored) ...
    share = left / (left + right)
    assert float(share.min()) > 0.95, share
    # ... and peaks on the square that made the label, not just anywhere on the left
    peaks = [divmod(int(c.argmax()), 32) for c in cam]
    hits = [abs(pr - r) <= 3 and abs(pc - c) <= 3
            for (pr, pc), (r, c) in zip(peaks, [w for w, p in zip(where, pos) if p])]  # fmt: skip
    assert np.mean(hits) > 0.8, hits


def test_top_losses_and_item_losses():
    out = torch.tensor([[2.0, 0.0], [0.0, 2.0], [1.0, 1.0], [3.0, -3.0]])
    y = torch.tensor([0, 0, 1, 1])
    losses = item_losses(nn.functional.cross_entropy, out, y)
    # reference: torch's unreduced cross entropy
    torch.testing.assert_close(losses, nn.functional.cross_entropy(out, y, reduction="none"))
    assert top_losses(losses, 2).tolist() == [3, 1]
    assert top_losses(losses, 10).tolist() == [3, 1, 2, 0]


def test_per_class_errors_from_a_confusion_matrix():
    # rows true, columns predicted: class a 5 items (1 taken for c), b 3 items all right,
    # c 4 items (2 taken for a, 1 for b), d no items
    conf = np.array([[4, 0, 1, 0], [0, 3, 0, 0], [2, 1, 1, 0], [0, 0, 0, 0]])
    rows = per_class_errors(conf, ["a", "b", "c", "d"])
    assert [r["wrong"] for r in rows] == [1, 0, 3, 0]
    assert rows[0]["error rate"] == pytest.approx(0.2) and rows[2]["error rate"] == 0.75
    assert [r["most often taken for"] for r in rows[:3]] == ["c (1)", "-", "a (2)"]
    assert np.isnan(rows[3]["error rate"])


def test_cam_overlay_is_hot_where_the_map_is():
    img = np.full((8, 8), 128, np.uint8)
    cam = np.zeros((4, 4), np.float32)
    cam[0, 0] = 1.0
    over = cam_overlay(img, cam)
    assert over.shape == (8, 8, 3) and over.dtype == np.uint8
    assert over[0, 0, 0] > over[0, 0, 2]  # red over blue where hot
    assert over[7, 7, 2] > over[7, 7, 0]  # blue over red where cold
