"""Video models on frame features: NeXtVLAD against a loop written from the paper's formula,
and padding that never changes a clip's score (reference: the same clip unpadded)."""

import torch

from dlf.models import create_model
from dlf.models.video import NeXtVLAD


def test_nextvlad_matches_the_formula_by_loops():
    torch.manual_seed(0)
    pool = NeXtVLAD(dim=6, clusters=3, expansion=2, groups=4).eval()
    frames, mask = torch.randn(2, 5, 6), torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    out = pool(frames, mask).reshape(2, pool.group_dim, pool.clusters)
    x = pool.expand(frames)
    att = torch.sigmoid(pool.group_attention(x))
    logits = pool.assign_norm(pool.assign(x).reshape(10, -1)).reshape(2, 5, 4, 3)
    for b in range(2):
        ref = torch.zeros(pool.group_dim, 3)
        for t in range(5):
            if not mask[b, t]:
                continue
            for g in range(4):
                xg = x[b, t, g * pool.group_dim : (g + 1) * pool.group_dim]
                a = logits[b, t, g].softmax(0) * att[b, t, g]
                for k in range(3):  # V(d, k) = sum over t, g of a_tgk (x_tg(d) - c_k(d))
                    ref[:, k] += a[k] * (xg - pool.centres[:, k])
        ref = ref / ref.norm(dim=0, keepdim=True)
        torch.testing.assert_close(out[b], ref, atol=1e-5, rtol=1e-4)


def test_padding_never_changes_a_clip_score():
    for name in ("video_nextvlad", "video_attention"):
        torch.manual_seed(0)
        model = create_model(name, num_classes=4, in_chans=16).eval()
        clip = torch.randn(1, 5, 16)
        padded = torch.cat([clip, torch.randn(1, 9, 16) * 10], 1)
        mask = torch.tensor([[1] * 5 + [0] * 9])
        with torch.no_grad():
            torch.testing.assert_close(model(padded, mask), model(clip), atol=1e-5, rtol=1e-4)
