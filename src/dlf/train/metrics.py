"""Metrics that accumulate on the device; the host reads them once per validation.

A metric is an object with `reset()`, `update(pred, *targets)` and `compute()`, the last
returning a 0-d tensor. A plain function `f(pred, target) -> tensor` becomes a metric
averaged over items with `AvgMetric`, and any callable given to the `Learner` as a metric
is wrapped that way. Metrics that need every prediction at once (kappa, AUC) use
`AccumMetric`, which keeps the predictions on the device and scores them at the end.

Under torchrun each rank validates its share; before `compute`, the Recorder calls
`sync(device)` on every rank so that each metric holds the whole validation set: sums and
confusion matrices are added up across ranks, kept predictions and ragged records gathered.
"""

import math
from collections.abc import Callable, Sequence

import torch

from dlf.core import DlfError
from dlf.core.dist import all_gather_objects, all_reduce_sum


class Metric:
    """Base class: subclasses set `name` and implement the three methods."""

    name = "metric"

    def reset(self) -> None:
        raise NotImplementedError

    def update(self, pred: torch.Tensor, *targets: torch.Tensor) -> None:
        raise NotImplementedError

    def compute(self) -> torch.Tensor:
        raise NotImplementedError

    def sync(self, device: torch.device) -> None:
        """Combine the ranks' figures (every rank calls it, once per validation)."""
        raise DlfError(
            f"metric {self.name}: cannot combine its figures across processes under torchrun; "
            "give it a sync(device) method (see dlf.train.metrics)"
        )


def _sum_across_ranks(total: torch.Tensor | None, count: int, device) -> tuple:
    """(total, count) summed over the ranks in one collective; total None if no rank had any."""
    mine = torch.zeros((), dtype=torch.float64, device=device) if total is None else total
    both = all_reduce_sum(torch.stack([mine.to(device, torch.float64),
                                       torch.tensor(float(count), dtype=torch.float64, device=device)]))  # fmt: skip
    n = int(both[1])
    return (both[0] if n else None), n


class AvgMetric(Metric):
    """The item-weighted mean of `func(pred, target)` over batches."""

    def __init__(self, func: Callable[..., torch.Tensor], name: str | None = None) -> None:
        self.func, self.name = func, name or func.__name__
        self.reset()

    def reset(self) -> None:
        self.total, self.count = None, 0

    def update(self, pred: torch.Tensor, *targets: torch.Tensor) -> None:
        n = pred.shape[0]  # a Python int: reading a shape costs no device sync
        value = self.func(pred, *targets).detach().float() * n
        self.total = value if self.total is None else self.total + value
        self.count += n

    def compute(self) -> torch.Tensor:
        if self.total is None:
            return torch.tensor(float("nan"))
        return self.total / self.count

    def sync(self, device: torch.device) -> None:
        self.total, self.count = _sum_across_ranks(self.total, self.count, device)


class AccumMetric(Metric):
    """Keeps every prediction and target (on the device), scores them all at once."""

    def __init__(self, func: Callable[..., torch.Tensor | float], name: str | None = None) -> None:
        self.func, self.name = func, name or func.__name__
        self.reset()

    def reset(self) -> None:
        self.preds: list[torch.Tensor] = []
        self.targets: list[tuple[torch.Tensor, ...]] = []

    def update(self, pred: torch.Tensor, *targets: torch.Tensor) -> None:
        self.preds.append(pred.detach())
        self.targets.append(tuple(t.detach() for t in targets))

    def compute(self) -> torch.Tensor:
        if not self.preds:
            return torch.tensor(float("nan"))
        pred = torch.cat(self.preds)
        targets = [torch.cat(ts) for ts in zip(*self.targets)]
        return torch.as_tensor(self.func(pred, *targets))

    def sync(self, device: torch.device) -> None:
        mine = None
        if self.preds:
            mine = (torch.cat(self.preds).cpu(), [torch.cat(ts).cpu() for ts in zip(*self.targets)])
        parts = [p for p in all_gather_objects(mine) if p is not None]
        self.preds = [p.to(device) for p, _ in parts]
        self.targets = [tuple(t.to(device) for t in ts) for _, ts in parts]


class HostMetric(Metric):
    """A metric over ragged per-item results, computed once per validation on the host:
    mAP over boxes, MAP@K over ranked segments, anything that is not a sum over batches.

    decode(pred, *targets) turns one batch into a list of per-item records (e.g. (boxes,
    scores, true boxes) with the padding removed; NMS or top-k belong here, per batch on the
    device); score(records) -> float is the competition's metric on all of them, on the
    host, after the last batch. Records are moved to the CPU only then, so a validation
    step never waits for the host."""

    def __init__(
        self, decode: Callable[..., list], score: Callable[[list], float], name: str
    ) -> None:
        self.decode, self.score, self.name = decode, score, name
        self.reset()

    def reset(self) -> None:
        self.records: list = []

    def update(self, pred, *targets) -> None:
        self.records.extend(self.decode(pred, *targets))

    def compute(self) -> torch.Tensor:
        if not self.records:
            return torch.tensor(float("nan"))
        return torch.tensor(float(self.score(_to_cpu(self.records))), dtype=torch.float64)

    def sync(self, device: torch.device) -> None:
        self.records = [r for part in all_gather_objects(_to_cpu(self.records)) for r in part]


def _to_cpu(x):
    """Tensors nested in lists, tuples and dicts, on the CPU."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu()
    if isinstance(x, list | tuple):
        return type(x)(_to_cpu(o) for o in x)
    if isinstance(x, dict):
        return {k: _to_cpu(v) for k, v in x.items()}
    return x


def as_metric(m: Metric | Callable) -> Metric:
    """A `Metric` as is; a plain function as an `AvgMetric`."""
    return m if isinstance(m, Metric) else AvgMetric(m)


def accuracy(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Share of items whose highest-scoring class is the target."""
    return (pred.argmax(dim=-1) == target).float().mean()


def error_rate(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Share of items whose highest-scoring class is not the target: 1 - accuracy."""
    return (pred.argmax(dim=-1) != target).float().mean()


def top_k_accuracy(pred: torch.Tensor, target: torch.Tensor, k: int = 5) -> torch.Tensor:
    """Share of items whose target is among the k highest-scoring classes."""
    top_k = pred.topk(k, dim=-1).indices  # (N, k)
    return (top_k == target.unsqueeze(-1)).any(dim=-1).float().mean()


class TopKAccuracy(Metric):
    """`top_k_accuracy` as a metric that counts hits on the device."""

    def __init__(self, k: int = 5) -> None:
        self.k, self.name = k, f"top_{k}_accuracy"
        self.reset()

    def reset(self) -> None:
        self.hits, self.count = None, 0

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        top_k = pred.detach().topk(self.k, dim=-1).indices
        hits = (top_k == target.unsqueeze(-1)).any(dim=-1).sum()
        self.hits = hits if self.hits is None else self.hits + hits
        self.count += target.shape[0]

    def compute(self) -> torch.Tensor:
        if self.hits is None:
            return torch.tensor(float("nan"))
        return self.hits.double() / self.count

    def sync(self, device: torch.device) -> None:
        self.hits, self.count = _sum_across_ranks(self.hits, self.count, device)


# --- scores read off a confusion matrix -----------------------------------------------------


def confusion_matrix(y_true: torch.Tensor, y_pred: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Counts (n_classes, n_classes): row = true class, column = predicted class (sklearn's
    layout). Each (true, pred) pair is one index true·n + pred into a flat count vector.

    The counting is a `scatter_add_` into a vector of known length rather than
    `torch.bincount`, because bincount on a GPU reads the largest index back to the host
    to size its output: a device sync on every batch.
    """
    flat = y_true.reshape(-1).long() * n_classes + y_pred.reshape(-1).long()
    counts = torch.zeros(n_classes * n_classes, dtype=torch.long, device=flat.device)
    counts.scatter_add_(0, flat, torch.ones_like(flat))
    return counts.view(n_classes, n_classes)


def regression_to_class(
    pred: torch.Tensor, n_classes: int, thresholds: Sequence[float] | None = None
) -> torch.Tensor:
    """Class indices from regression outputs: the number of thresholds at or below each value.

    The default thresholds 0.5, 1.5, ..., n_classes-1.5 round to the nearest class (halves
    go up) and clip to 0..n_classes-1; tuned thresholds (as in APTOS solutions) replace them.
    """
    if thresholds is None:
        thresholds = [c + 0.5 for c in range(n_classes - 1)]
    if len(thresholds) != n_classes - 1:
        raise DlfError(
            f"regression_to_class: {n_classes} classes need {n_classes - 1} thresholds, "
            f"got {len(thresholds)}"
        )
    edges = torch.as_tensor(thresholds, dtype=pred.dtype, device=pred.device)
    # right=True: edges[i-1] <= x < edges[i] -> class i, so a value on a threshold goes up
    return torch.bucketize(pred.reshape(-1).contiguous(), edges, right=True)


def _to_labels(pred: torch.Tensor, n_classes: int, thresholds: Sequence[float] | None):
    """Class indices from whatever the model gives: labels, per-class scores or one value."""
    if not pred.is_floating_point():
        return pred.reshape(-1)
    if pred.dim() >= 2 and pred.shape[-1] == n_classes and n_classes > 1:
        return pred.argmax(dim=-1).reshape(-1)  # per-class scores
    return regression_to_class(pred, n_classes, thresholds)  # one value per item


def _target_labels(target: torch.Tensor) -> torch.Tensor:
    # regression targets arrive as floats holding whole class numbers
    return (target.round() if target.is_floating_point() else target).reshape(-1).long()


class ConfusionMatrixMetric(Metric):
    """Accumulates a confusion matrix on the device; subclasses score it in `compute`."""

    def __init__(self, n_classes: int, thresholds: Sequence[float] | None = None) -> None:
        self.n_classes, self.thresholds = n_classes, thresholds
        self.reset()

    def reset(self) -> None:
        self.cm: torch.Tensor | None = None

    def labels(self, pred: torch.Tensor) -> torch.Tensor:
        return _to_labels(pred, self.n_classes, self.thresholds)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        cm = confusion_matrix(_target_labels(target), self.labels(pred.detach()), self.n_classes)
        self.cm = cm if self.cm is None else self.cm + cm

    def sync(self, device: torch.device) -> None:
        # gathered, not all-reduced: a rank without batches has no matrix (nor, for macro F1
        # on scores, a class count) to add
        parts = [
            c
            for c in all_gather_objects(None if self.cm is None else self.cm.cpu())
            if c is not None
        ]
        self.cm = torch.stack(parts).sum(0).to(device) if parts else None


def f1_from_confusion(cm: torch.Tensor, average: str = "macro", pos_label: int = 1) -> torch.Tensor:
    """F1 = 2TP / (2TP + FP + FN), as sklearn's `f1_score` defines it.

    "binary": F1 of class `pos_label` (0 when it is neither predicted nor true, as sklearn's
    default zero_division gives). "macro": the mean over the classes that occur in the
    targets or the predictions (sklearn's default labels).
    """
    cm = cm.double()
    tp = cm.diagonal()
    fp = cm.sum(dim=0) - tp  # predicted as the class, but not it
    fn = cm.sum(dim=1) - tp  # the class, but predicted otherwise
    denom = 2 * tp + fp + fn
    f1 = torch.where(denom > 0, 2 * tp / denom.clamp(min=1), 0.0)
    if average == "binary":
        return f1[pos_label]
    if average == "macro":
        present = denom > 0
        return (f1 * present).sum() / present.sum()  # nan when nothing was counted
    raise DlfError(f"F1 average {average!r} is unknown: use 'binary' or 'macro'")


class F1Score(ConfusionMatrixMetric):
    """F1 from a confusion matrix accumulated on the device.

    average="binary": predictions are logits (N,) or (N, 1), positive where logit > 0
    (probability > 0.5), or (N, 2) scores, or labels. average="macro": (N, C) scores or labels,
    with `n_classes` needed only for labels.
    """

    def __init__(
        self, average: str = "binary", n_classes: int | None = None, pos_label: int = 1
    ) -> None:
        if average not in ("binary", "macro"):
            raise DlfError(f"F1 average {average!r} is unknown: use 'binary' or 'macro'")
        self.average, self.pos_label = average, pos_label
        self.name = "f1_score" if average == "binary" else "f1_macro"
        n = 2 if average == "binary" else n_classes
        super().__init__(n or 0)

    def labels(self, pred: torch.Tensor) -> torch.Tensor:
        if self.n_classes == 0:  # macro F1 learns the class count from the first scores
            if not pred.is_floating_point():
                raise DlfError("F1Score(average='macro') on labels needs n_classes=...")
            self.n_classes = pred.shape[-1]
        one_logit_per_item = pred.dim() == 1 or pred.shape[-1] == 1
        if self.average == "binary" and pred.is_floating_point() and one_logit_per_item:
            return (pred > 0).reshape(-1).long()
        return _to_labels(pred, self.n_classes, None)

    def compute(self) -> torch.Tensor:
        if self.cm is None:
            return torch.tensor(float("nan"))
        return f1_from_confusion(self.cm, self.average, self.pos_label)


# --- quadratic weighted kappa (APTOS and other graded-scale competitions) -------------------


def kappa_from_confusion(cm: torch.Tensor) -> torch.Tensor:
    """Quadratic weighted kappa of a confusion matrix: 1 - Σ W·O / Σ W·E.

    O is the observed matrix, E the one expected by chance (outer product of the true and
    predicted class counts over N) and W_ij = (i - j)² the disagreement weight. When both
    sides put everything in one class, Σ W·E = 0 and kappa is undefined: nan, as sklearn.
    """
    observed = cm.double()
    n = observed.shape[0]
    idx = torch.arange(n, dtype=torch.float64, device=cm.device)
    weights = (idx[:, None] - idx[None, :]) ** 2
    expected = observed.sum(dim=1)[:, None] * observed.sum(dim=0)[None, :] / observed.sum()
    return 1 - (weights * observed).sum() / (weights * expected).sum()


def quadratic_weighted_kappa(
    y_true: Sequence[int] | torch.Tensor,
    y_pred: Sequence[int] | torch.Tensor,
    n_classes: int | None = None,
) -> float:
    """Quadratic weighted kappa of two label sequences, equal to
    `sklearn.metrics.cohen_kappa_score(y_true, y_pred, weights="quadratic")`.

    With `n_classes=None` the classes are the labels that occur (sklearn's default: a label
    absent from both sides does not count in the weights). With `n_classes=k` they are
    0..k-1 and the weights are the squared distances of the grades themselves, which is
    sklearn with `labels=range(k)` and the Kaggle definition.
    """
    t = torch.as_tensor(y_true).reshape(-1).long()
    p = torch.as_tensor(y_pred).reshape(-1).long()
    if t.shape != p.shape or t.numel() == 0:
        raise DlfError(
            f"quadratic_weighted_kappa: got {t.numel()} true and {p.numel()} predicted labels; "
            "give one prediction per item"
        )
    if n_classes is None:
        classes = torch.unique(torch.cat([t, p]))  # sorted
        t, p, n_classes = (
            torch.searchsorted(classes, t),
            torch.searchsorted(classes, p),
            len(classes),
        )
    elif min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= n_classes:
        raise DlfError(f"quadratic_weighted_kappa: labels must lie in 0..{n_classes - 1}")
    return kappa_from_confusion(confusion_matrix(t, p, n_classes)).item()


class QWK(ConfusionMatrixMetric):
    """Quadratic weighted kappa over grades 0..n_classes-1, from a confusion matrix kept on
    the device. Predictions may be labels, (N, n_classes) scores (argmax), or one regression
    value per item, turned into grades by rounding or by the given `thresholds`."""

    name = "qwk"

    def compute(self) -> torch.Tensor:
        if self.cm is None:
            return torch.tensor(float("nan"))
        return kappa_from_confusion(self.cm)


# --- Dice for segmentation ------------------------------------------------------------------


def dice_per_image(pred_mask, target_mask) -> torch.Tensor:
    """Dice 2|P∩T| / (|P| + |T|) of each image and channel of masks (N, C, *spatial), nonzero
    = inside, shape (N, C), in float64. An empty prediction on an empty mask scores 1 (the
    Kaggle convention). The one Dice of dlf: the SIIM metric on files uses it too. Dice is
    symmetric, so the order of the two masks does not change the value."""
    p, t = torch.as_tensor(pred_mask) != 0, torch.as_tensor(target_mask) != 0
    if p.shape != t.shape:
        raise ValueError(f"prediction {tuple(p.shape)} and truth {tuple(t.shape)} differ")
    dims = tuple(range(2, p.dim()))
    intersection = (p & t).sum(dims, dtype=torch.float64)
    total = p.sum(dims, dtype=torch.float64) + t.sum(dims, dtype=torch.float64)
    return torch.where(total > 0, 2 * intersection / total.clamp(min=1), 1.0)


class Dice(Metric):
    """Mean Dice over images (and channels), accumulated on the device.

    Predictions are logits (N, C, H, W) or (N, H, W), positive where σ(logit) > threshold;
    boolean or integer masks are taken as they are. Targets are masks of the same shape, or
    (N, H, W) for a one-channel prediction.
    """

    name = "dice"

    def __init__(self, threshold: float = 0.5) -> None:
        if not 0 < threshold < 1:
            raise DlfError(f"Dice threshold must lie between 0 and 1, got {threshold}")
        self.logit_threshold = math.log(threshold / (1 - threshold))  # σ(x) > t ⇔ x > logit(t)
        self.reset()

    def reset(self) -> None:
        self.total, self.count = None, 0

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        pred = pred.detach()
        if pred.dim() == 3:
            pred = pred.unsqueeze(1)
        if target.dim() == pred.dim() - 1:
            target = target.unsqueeze(1)
        if pred.shape != target.shape:
            raise DlfError(
                f"Dice: prediction shape {tuple(pred.shape)} does not match mask shape "
                f"{tuple(target.shape)}"
            )
        mask = pred > self.logit_threshold if pred.is_floating_point() else pred.bool()
        dice = dice_per_image(mask, target)
        self.total = dice.sum() if self.total is None else self.total + dice.sum()
        self.count += dice.numel()

    def compute(self) -> torch.Tensor:
        if self.total is None:
            return torch.tensor(float("nan"))
        return self.total / self.count

    def sync(self, device: torch.device) -> None:
        self.total, self.count = _sum_across_ranks(self.total, self.count, device)
