"""show_batch / show_results write a PNG; env_report names what `dlf env` must print."""

import torch
from PIL import Image

from dlf.data.env import env_report
from dlf.data.show import show_batch, show_results


def test_show_batch_with_mask_and_boxes_saves_png(tmp_path):
    x = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    m = torch.randint(0, 3, (4, 16, 16))
    boxes = torch.tensor([[[2.0, 2.0, 8.0, 8.0]]]).repeat(4, 1, 1)
    fig = show_batch(
        (x, m, boxes, torch.tensor([0, 1, 0, 1])),
        kinds=("image", "mask", "boxes", "label"),
        vocab=["a", "b"],
        save=tmp_path / "b.png",
    )
    assert Image.open(tmp_path / "b.png").size[0] > 100
    assert [ax.get_title() for ax in fig.axes[:2]] == ["a", "b"]
    assert len(fig.axes[0].patches) == 1


def test_show_results_titles_target_and_prediction(tmp_path):
    x = torch.rand(2, 3, 8, 8)
    fig = show_results(
        (x, torch.tensor([0, 1])),
        torch.tensor([[0.1, 0.9], [0.2, 0.8]]),
        vocab=["a", "b"],
        save=tmp_path / "r.png",
    )
    assert [ax.get_title() for ax in fig.axes[:2]] == ["a / b", "b / b"]


def test_env_report_lines():
    text = env_report()
    for key in ("python", "torch", "dlf", "device", "threads", "fast bf16", "optional"):
        assert key in text
    assert torch.__version__ in text
