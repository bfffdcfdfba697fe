"""TTA as one setting (`TTASpec`: symmetries and scales) everywhere: its spellings, the
multi-scale passes for dense and per-item outputs (references: the model called by hand on
each resized, flipped input, and torch's own bilinear resize), and the command line."""

import pytest
import torch
import torch.nn.functional as F

from dlf.cli import _tta_passes
from dlf.core.errors import DlfError
from dlf.train.tta import TTASpec, dihedral, tta_predict, undo_dihedral


@pytest.mark.parametrize(
    "text, passes, scales, setting",
    [("8", 8, (1.0,), 8), ("dihedral", 8, (1.0,), 8), ("flip", 2, (1.0,), 2), ("none", 1, (1.0,), 1),
     ("flips@1,1.25", 4, (1.0, 1.25), "4@1,1.25"), ("2@0.75, 1", 2, (0.75, 1.0), "2@0.75,1")],
)  # fmt: skip
def test_spellings(text, passes, scales, setting):
    spec = TTASpec.parse(text)
    assert (spec.passes, spec.scales, spec.setting()) == (passes, scales, setting)
    assert TTASpec.parse(spec.setting()) == spec  # what config.json keeps reads back the same
    assert _tta_passes(text) == setting


@pytest.mark.parametrize("bad", ["9", "0", "twice", "2@", "2@big", "2@1,9"])
def test_bad_spellings_are_one_line_errors(bad):
    with pytest.raises(DlfError) as e:
        TTASpec.parse(bad)
    assert "\n" not in str(e.value)


class Blur(torch.nn.Module):
    """A dense 'model' that is not symmetric: a fixed 3x3 kernel, no padding tricks."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(1, 1, 3, padding=1, bias=False)

    def forward(self, x):
        return self.conv(x)


def test_dense_multi_scale_resizes_each_map_back_then_averages():
    model, x = Blur(), torch.randn(2, 1, 16, 16)
    got = tta_predict(model, x, "2@1,1.5", dense=True)
    with torch.no_grad():
        want = 0
        for s in (1.0, 1.5):
            xs = x if s == 1 else F.interpolate(x, size=(24, 24), mode="bilinear", align_corners=False)  # fmt: skip
            for k in (0, 1):
                y = undo_dihedral(model(dihedral(xs, k)), k)
                want = want + F.interpolate(y, size=(16, 16), mode="bilinear", align_corners=False)
        want = want / 4
    torch.testing.assert_close(got, want)
    assert got.shape == x.shape


def test_per_item_outputs_are_averaged_over_scales_and_an_activated_map_too():
    pooled = torch.nn.Sequential(Blur(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    x = torch.randn(3, 1, 12, 12)
    got = tta_predict(pooled, x, "1@1,2")
    with torch.no_grad():
        big = F.interpolate(x, size=(24, 24), mode="bilinear", align_corners=False)
        torch.testing.assert_close(got, (pooled(x) + pooled(big)) / 2)
    # an activation that drops the channel dim (siim's sigmoid of out[:, 0]): N x H x W maps
    maps = tta_predict(Blur(), x, "2@1,2", dense=True, act=lambda o: o[:, 0].sigmoid())
    assert maps.shape == (3, 12, 12)


def test_merged_outputs_refuse_scales():
    from dlf.train.tta import TTAMerge

    merge = TTAMerge(undo=lambda o, k, h, w: o, merge=lambda outs: outs[0])
    with pytest.raises(DlfError, match="symmetries only"):
        tta_predict(Blur(), torch.randn(1, 1, 8, 8), "2@1,1.25", merge=merge)
