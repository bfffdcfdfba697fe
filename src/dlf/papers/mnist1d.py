"""Reproducing MNIST-1D (Greydanus & Kobak, "Scaling Down Deep Learning with MNIST-1D",
ICML 2024), then beating it: the worked example of a paper reproduction with dlf.

    data       `load_mnist1d()`: the authors' own generator (`mnist1d.data.make_dataset`
               with `get_dataset_args()`: 4,000 + 1,000 sequences of 40, seed 42)
    recipes    `Recipe`: a model from the zoo and how it is trained; `PAPER_ROWS` are the
               paper's four baselines as its notebook trains them (Adam, lr 1e-2, batch
               100, 6,000 steps, test accuracy measured every 200 steps), `ABLATION_ROWS`
               go from the paper's CNN to our recipe one change at a time, and
               `SHUFFLED_ROWS` are the README's permuted-positions row
    training   `train_recipe(recipe, data, seed)`: dlf's Learner on array data
    the table  `reproduce(out, seeds)`: every row for every seed (cheap, essential rows
               first), each run saved to results.json as it finishes (a rerun skips what is
               there), results.md / results.html / curves.png rewritten after each run

`dlf reproduce mnist1d` is the command; docs/papers/mnist1d.md reads the measured table.
"""

import json
import math
import platform
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from dlf.core.atomic import atomic_write_bytes, atomic_write_text
from dlf.core.errors import DlfError
from dlf.core.seed import seed_everything
from dlf.data.loaders import DataLoaders
from dlf.data.resident import ArrayLoader, array_column
from dlf.data.samplers import epoch_rng
from dlf.models.registry import create_model
from dlf.train.callbacks.ema import EMA
from dlf.train.callbacks.recorder import Recorder
from dlf.train.learner import Learner
from dlf.train.losses import CrossEntropyLoss
from dlf.train.metrics import accuracy

#: the paper's test accuracies (%): its README table and Table 1
PAPER_FIGURES = {"logistic": 32.0, "mlp": 68.0, "cnn": 94.0, "gru": 91.0, "human": 96.0}
#: the authors' own run of the same code, as their notebook prints it (notebooks/
#: mnist1d-classification.ipynb, seed 42, test accuracy at step 6,000): a second reference
#: that says how far one run lands from the table's figure
NOTEBOOK_FIGURES = {"logistic": 31.5, "mlp": 65.1, "cnn": 92.3, "gru": 89.1}
NOTEBOOK_SHUFFLED = {"logistic": 31.5, "mlp": 66.0, "cnn": 58.7, "gru": 53.3}
INSTALL_HINT = "the MNIST-1D generator is not installed: pip install 'dlf[paper]' (or pip install mnist1d)"  # fmt: skip


# ------------------------------------------------------------------------------ the data
@dataclass
class Mnist1d:
    """The arrays of one generated MNIST-1D: x B x 40 float32, y B int64, and `raw_std`,
    the standard deviation the generator divided by (to express its transforms' sizes,
    given in raw units, in the standardised units of x)."""

    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    raw_std: float
    args: dict = field(default_factory=dict)


def dataset_args(seed: int = 42, **overrides) -> dict:
    """The paper's dataset arguments (`mnist1d.data.get_dataset_args`), with `seed` and any
    override (num_samples, shuffle_seq, ...)."""
    try:
        from mnist1d.data import get_dataset_args
    except ImportError:
        raise DlfError(INSTALL_HINT) from None
    args = get_dataset_args(as_dict=True)
    unknown = set(overrides) - set(args)
    if unknown:
        raise DlfError(f"unknown MNIST-1D argument(s) {sorted(unknown)}; valid: {sorted(args)}")
    return {**args, **overrides, "seed": seed}


def load_mnist1d(seed: int = 42, **overrides) -> Mnist1d:
    """Generate MNIST-1D with the authors' `make_dataset` (no download, no file written).

    The generator seeds NumPy's and Python's global RNGs; their states are put back after,
    so generating the data does not change what a caller's later draws are."""
    args = dataset_args(seed, **overrides)
    from mnist1d.data import make_dataset
    from mnist1d.transform import interpolate
    from mnist1d.utils import ObjectView

    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        d = make_dataset(ObjectView(dict(args)))
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    # make_dataset returns t / std with t the interpolated template grid: recover the std
    t_raw = interpolate(d["templates"]["t"], args["final_seq_length"])
    raw_std = float(np.median(t_raw[t_raw != 0] / d["t"][t_raw != 0]))
    return Mnist1d(
        x=d["x"].astype(np.float32),
        y=d["y"].astype(np.int64),
        x_test=d["x_test"].astype(np.float32),
        y_test=d["y_test"].astype(np.int64),
        raw_std=raw_std,
        args={k: v for k, v in args.items() if k != "url"},
    )


# ------------------------------------------------------------------------------ augmentation
class Augment1d:
    """MNIST-1D's own transforms, redrawn per item on each training batch (train only):
    a circular shift (the generator's translation wraps around), a scale, a shear (a linear
    ramp added across the sequence) and iid noise. Sizes follow the generator's arguments:
    scale 1 +- scale_coeff/2, shear +- shear_scale/2 and noise iid_noise_scale, the last two
    divided by the generator's std since x is standardised; `max_shift` is in output steps."""

    train_only = True

    def __init__(
        self,
        raw_std: float,
        max_shift: int = 8,
        scale_coeff: float = 0.4,
        shear_scale: float = 0.75,
        iid_noise_scale: float = 0.02,
    ) -> None:
        self.max_shift, self.scale_coeff = max_shift, scale_coeff
        self.shear, self.noise = shear_scale / raw_std, iid_noise_scale / raw_std

    def __call__(self, batch: dict) -> dict:
        x = batch["signal"]
        n, length = x.shape
        shift = torch.randint(-self.max_shift, self.max_shift + 1, (n, 1), device=x.device)
        where = (torch.arange(length, device=x.device) - shift) % length
        x = x.gather(1, where)
        x = x * (1 + self.scale_coeff * (torch.rand(n, 1, device=x.device) - 0.5))
        ramp = torch.linspace(-0.5, 0.5, length, device=x.device)
        x = x - self.shear * (torch.rand(n, 1, device=x.device) - 0.5) * ramp
        x = x + self.noise * torch.randn_like(x)
        return {**batch, "signal": x}


# ------------------------------------------------------------------------------ recipes
@dataclass(frozen=True)
class Recipe:
    """One row of a table: a registered model and how it is trained.

    schedule: "constant" (the paper) or "one_cycle"; opt: "adam" (the paper: torch's Adam,
    no weight decay) or "adamw" (with `wd`). `eval_every` steps make one Learner epoch, at
    the end of which the test accuracy is recorded (the curve). ema: the EMA's decay, and
    the row's figure is the averaged weights'; tta: test-time shifts averaged (1: none)."""

    name: str
    model: str
    model_kwargs: dict = field(default_factory=dict)
    paper: float | None = None
    notebook: float | None = None
    steps: int = 6000
    bs: int = 100
    lr: float = 1e-2
    opt: str = "adam"
    wd: float = 0.0
    schedule: str = "constant"
    augment: bool = False
    label_smoothing: float = 0.0
    ema: float | None = None
    tta: int = 1
    eval_every: int = 200
    shuffle_seq: bool = False


PAPER_ROWS = tuple(
    Recipe(name, f"mnist1d_{key}", paper=PAPER_FIGURES[key], notebook=NOTEBOOK_FIGURES[key])
    for name, key in (
        ("logistic regression", "logistic"),
        ("MLP", "mlp"),
        ("CNN", "cnn"),
        ("GRU", "gru"),
    )
)
# The README's third row: the same models on sequences whose 40 positions are permuted (the
# generator's own `shuffle_seq=True`), which removes the spatial prior CNNs and GRUs rely on.
SHUFFLED_ROWS = tuple(
    replace(r, name=f"{r.name}, shuffled", paper=p, notebook=n, shuffle_seq=True)
    for r, p, n in zip(PAPER_ROWS, (32.0, 68.0, 56.0, 57.0), NOTEBOOK_SHUFFLED.values())
)

# From the paper's CNN to ours, one change per row (each row keeps the changes above it).
# The last three changes (label smoothing's raw weights, their EMA, TTA) are read from the same
# runs of the final recipe: an EMA and test-time shifts do not change the training trajectory.
_ONE_CYCLE = Recipe(
    "CNN + one-cycle AdamW (lr 1e-2, wd 1e-2)",
    "mnist1d_cnn",
    opt="adamw",
    wd=1e-2,
    schedule="one_cycle",
)
_AUG = replace(_ONE_CYCLE, name="+ augmentation (shift, scale, shear, noise)", augment=True)
_RES = replace(
    _AUG,
    name="residual circular CNN (32 ch, 3 blocks), 1,500 steps",
    model="mnist1d_resnet",
    model_kwargs={"channels": 32, "depth": 3},
    steps=1500,
    eval_every=100,
)
BEAT = replace(
    _RES, name="ours: + label smoothing 0.1, EMA 0.99, TTA 5 shifts", label_smoothing=0.1,
    ema=0.99, tta=5,
)  # fmt: skip
# Leave one out: the cumulative order above credits augmentation before the architecture
# change; this row asks what the final recipe loses without it.
_NO_AUG = replace(BEAT, name="ours without augmentation", augment=False)
ABLATION_ROWS = (_ONE_CYCLE, _AUG, _RES, BEAT, _NO_AUG)
#: the ablation table's rows: (label, trained recipe, which figure of its runs)
ABLATION_TABLE = (
    ("the paper's CNN (Adam, constant lr 1e-2, 6,000 steps)", PAPER_ROWS[2], "test_acc"),
    ("+ one-cycle AdamW (lr 1e-2, wd 1e-2)", _ONE_CYCLE, "test_acc"),
    ("+ augmentation (shift, scale, shear, noise)", _AUG, "test_acc"),
    ("residual circular CNN (32 ch, 3 blocks), 1,500 steps", _RES, "test_acc"),
    ("+ label smoothing 0.1", BEAT, "raw_weights"),
    ("+ EMA of the weights (decay 0.99)", BEAT, "no_tta"),
    ("+ TTA: mean over 5 shifts (ours)", BEAT, "test_acc"),
    ("leave one out: ours without augmentation", _NO_AUG, "test_acc"),
)


def quick(recipe: Recipe, steps: int = 200) -> Recipe:
    """The same recipe for `steps` steps (the smoke test of `--quick`)."""
    return replace(recipe, steps=steps, eval_every=min(recipe.eval_every, steps))


# ------------------------------------------------------------------------------ training
class StepSampler:
    """`steps_per_epoch * bs` positions per Learner epoch, cut from an endless stream of
    shuffled passes over `n` rows: an "epoch" is `eval_every` steps, not one pass, so the
    test curve has the paper's resolution whatever the pass length. The passes are drawn
    from torch's RNG (dlf's `epoch_rng`), so the seed fixes the order."""

    def __init__(self, n: int, per_epoch: int) -> None:
        self.n, self.per_epoch = n, per_epoch
        self._left = np.empty(0, dtype=np.int64)

    def epoch_indices(self) -> np.ndarray:
        while len(self._left) < self.per_epoch:
            self._left = np.concatenate([self._left, epoch_rng(None, 0).permutation(self.n)])
        out, self._left = self._left[: self.per_epoch], self._left[self.per_epoch :]
        return out

    def __len__(self) -> int:
        return self.per_epoch


@dataclass
class RunResult:
    """One recipe, one seed: the final test accuracy (%), the curve (step, test accuracy
    after that step), the training seconds (wall clock, and CPU time of this process, which
    a busy shared machine does not inflate) and the parameter count."""

    row: str
    seed: int
    test_acc: float
    curve: list[tuple[int, float]]
    seconds: float
    params: int
    extra: dict = field(default_factory=dict)
    cpu_seconds: float = float("nan")


def _opt_func(recipe: Recipe) -> Callable:
    if recipe.opt == "adam":
        return lambda groups, lr: torch.optim.Adam(groups, lr=lr)
    if recipe.opt == "adamw":
        return lambda groups, lr: torch.optim.AdamW(groups, lr=lr, weight_decay=recipe.wd)
    raise DlfError(f"recipe {recipe.name!r}: unknown opt {recipe.opt!r}; use adam or adamw")


@torch.no_grad()
def evaluate_accuracy(
    model: torch.nn.Module, x: np.ndarray, y: np.ndarray, shifts: int = 1
) -> float:
    """Accuracy (%) of `model` on (x, y), averaging the softmax over `shifts` circular
    shifts of the input (0, +1, -1, +2, ...; 1 = no test-time augmentation)."""
    model.eval()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    offsets = [0, *(s for k in range(1, shifts) for s in (k, -k))][:shifts]
    probs = sum(model(xt.roll(s, dims=1)).softmax(1) for s in offsets)
    return 100.0 * (probs.argmax(1) == yt).float().mean().item()


def train_recipe(
    recipe: Recipe, data: Mnist1d, seed: int, num_threads: int | None = None
) -> RunResult:
    """Train `recipe` on `data` with dlf's Learner (CPU, fp32) from `seed`; the figure is
    the test accuracy after the last step (no early stopping, nothing chosen on test)."""
    if recipe.steps % recipe.eval_every:
        raise DlfError(f"recipe {recipe.name!r}: steps must be a multiple of eval_every")
    if num_threads:
        torch.set_num_threads(num_threads)
    seed_everything(seed)
    model = create_model(recipe.model, num_classes=10, in_chans=1, **recipe.model_kwargs)
    params = sum(p.numel() for p in model.parameters())
    train = ArrayLoader(
        {"signal": array_column(data.x), "label": array_column(data.y)},
        np.arange(len(data.y)),
        bs=recipe.bs,
        drop_last=True,
        sampler=StepSampler(len(data.y), recipe.eval_every * recipe.bs),
        prefetch=0,  # the batches are slices of a small array: a thread would only add waits
    )
    valid = ArrayLoader(
        {"signal": array_column(data.x_test), "label": array_column(data.y_test)},
        np.arange(len(data.y_test)),
        bs=1000,
        prefetch=0,
    )
    tfms = [Augment1d(data.raw_std)] if recipe.augment else []
    dls = DataLoaders(train, valid, device="cpu", batch_tfms=tfms, inputs=("signal",))
    recorder = Recorder()
    ema = EMA(recipe.ema, validate_ema=True, keep_ema=False) if recipe.ema else None
    learn = Learner(
        model,
        dls,
        CrossEntropyLoss(label_smoothing=recipe.label_smoothing),
        opt_func=_opt_func(recipe),
        lr=recipe.lr,
        metrics=[accuracy],
        cbs=[recorder, *([ema] if ema else [])],
        precision="fp32",
        default_cbs=False,
        logger=lambda msg: None,
    )
    epochs = recipe.steps // recipe.eval_every
    t0, c0 = time.perf_counter(), time.process_time()
    if recipe.schedule == "one_cycle":
        learn.fit_one_cycle(epochs, recipe.lr)
    elif recipe.schedule == "constant":
        learn.fit(epochs)
    else:
        raise DlfError(f"recipe {recipe.name!r}: unknown schedule {recipe.schedule!r}")
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    curve = [((i + 1) * recipe.eval_every, 100.0 * r["accuracy"]) for i, r in enumerate(recorder.values)]  # fmt: skip
    final_model = ema.ema if ema else learn.model
    extra = {"last_recorded": curve[-1][1], "steps": recipe.steps}
    if ema:
        extra["raw_weights"] = evaluate_accuracy(learn.model, data.x_test, data.y_test)
    if recipe.tta > 1:
        extra["no_tta"] = evaluate_accuracy(final_model, data.x_test, data.y_test)
    acc = evaluate_accuracy(final_model, data.x_test, data.y_test, shifts=recipe.tta)
    return RunResult(recipe.name, seed, acc, curve, seconds, params, extra, cpu)


# ------------------------------------------------------------------------------ the table
def _mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; 0 for one value)."""
    m = sum(values) / len(values)
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0  # fmt: skip
    return m, sd


def summarise(results: list[RunResult], rows: tuple[tuple[str, Recipe, str], ...]) -> list[dict]:
    """One dict per (label, recipe, figure) row with results: the number of seeds, the
    mean/std/range of the figure ("test_acc" or a key of `extra`), seconds per seed."""
    out = []
    for label, r, key in rows:
        mine = [x for x in results if x.row == r.name]
        if not mine:
            continue
        accs = [x.test_acc if key == "test_acc" else x.extra[key] for x in mine]
        m, sd = _mean_std(accs)
        out.append({
            "row": label, "model": r.model, "params": mine[0].params, "n": len(mine),
            "mean": m, "std": sd, "min": min(accs), "max": max(accs), "paper": r.paper,
            "notebook": r.notebook,
            "seconds": sum(x.seconds for x in mine) / len(mine),
            "cpu_seconds": sum(x.cpu_seconds for x in mine) / len(mine),
        })  # fmt: skip
    return out


def _fmt_row(s: dict) -> str:
    paper = f"{s['paper']:.0f}" if s["paper"] is not None else ""
    diff = f"{s['mean'] - s['paper']:+.1f}" if s["paper"] is not None else ""
    notebook = f"{s['notebook']:.1f}" if s["notebook"] is not None else ""
    return (
        f"| {s['row']} | `{s['model']}` | {s['params']:,} | {paper} | {notebook} | "
        f"{s['mean']:.1f} ± {s['std']:.1f} | {diff} | {s['min']:.1f}–{s['max']:.1f} | "
        f"{s['n']} | {s['seconds']:.0f} | {s['cpu_seconds']:.0f} |"
    )


HEADER = (
    "| row | model | params | paper % | authors' run % | ours % (mean ± std) | ours − paper | range | seeds | wall s / seed | CPU s / seed |\n"
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def _plain(rows: tuple[Recipe, ...]) -> tuple[tuple[str, Recipe, str], ...]:
    return tuple((r.name, r, "test_acc") for r in rows)


def render_markdown(results: list[RunResult], env: dict, plot: str | None) -> str:
    """results.md: the paper's table (and its shuffled row), the ablation, the plot, the
    environment."""
    lines = ["# MNIST-1D reproduction (dlf reproduce mnist1d)", ""]
    lines += [
        "Test accuracy (%) after the last training step, mean ± sample std over the seeds. "
        "Paper: its table. Authors' run: the same code run once by the authors (seed 42, "
        "their notebook's printout at step 6,000). Wall s / seed: training seconds per seed "
        "on this machine as loaded at the time; CPU s / seed: the CPU time the runs used "
        "(torch threads below). The paper's human figure: 96%.",
        "",
    ]
    for title, rows in (
        ("The paper's table", _plain(PAPER_ROWS)),
        ("The paper's shuffled row (positions permuted)", _plain(SHUFFLED_ROWS)),
        ("Beating it, one change at a time (from the paper's CNN)", ABLATION_TABLE),
    ):
        table = summarise(results, rows)
        if table:
            lines += [f"## {title}", "", HEADER, *map(_fmt_row, table), ""]
    if plot:
        lines += ["## Test accuracy against training step", "", f"![curves]({plot})", ""]
    lines += ["## Environment", ""] + [f"- {k}: {v}" for k, v in env.items()] + [""]
    return "\n".join(lines)


def render_html(markdown: str, png: bytes | None) -> str:
    """A self-contained page of results.md (tables as preformatted text, the plot inline)."""
    import base64
    import html

    img = ""
    if png:
        img = f"<img alt='curves' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
    body = html.escape(markdown.split("## Test accuracy against training step")[0])
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>MNIST-1D reproduction</title>"
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}pre{font-size:90%}"
        f"</style></head><body><pre>{body}</pre>{img}</body></html>"
    )


def plot_curves(results: list[RunResult]) -> bytes:
    """The paper's benchmark figure, measured: mean test accuracy against training step for
    the four models (solid) and their shuffled-sequence runs (dashed), with a band from the
    lowest to the highest seed, our recipe, and the human figure."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    colors = ["tab:red", "tab:green", "tab:blue", "tab:orange"]
    lines = [(r, c, "-") for r, c in zip(PAPER_ROWS, colors)]
    lines += [(r, c, "--") for r, c in zip(SHUFFLED_ROWS, colors)]
    for recipe, color, style in [*lines, (BEAT, "tab:purple", "-")]:
        runs = [x for x in results if x.row == recipe.name]
        if not runs:
            continue
        steps = [s for s, _ in runs[0].curve]
        accs = np.array([[a for _, a in x.curve] for x in runs])
        ax.plot(steps, accs.mean(0), color=color, ls=style, label=f"{recipe.name} ({len(runs)})")
        ax.fill_between(steps, accs.min(0), accs.max(0), color=color, alpha=0.15)
    ax.axhline(PAPER_FIGURES["human"], color="k", ls=":", lw=1, label="human (paper)")
    ax.set_xlabel("training step")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("MNIST-1D test accuracy during training (in brackets: seeds)")
    ax.legend(loc="lower right", fontsize=7, ncol=2)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def environment() -> dict:
    """What the table was measured with: versions, the machine, threads and its load."""
    import os

    from dlf.core.version import __version__

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {
        "dlf": __version__,
        "torch": torch.__version__,
        "mnist1d": _dist_version("mnist1d"),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "torch threads": torch.get_num_threads(),
        "load average (1 min) when this page was written": f"{load:.1f}",
        "device": "cpu, fp32",
    }


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def _load_results(path: Path) -> list[RunResult]:
    if not path.exists():
        return []
    try:
        raw = json.loads(path.read_text())
        return [RunResult(**{**r, "curve": [tuple(c) for c in r["curve"]]}) for r in raw]
    except (ValueError, TypeError, KeyError) as e:
        raise DlfError(f"{path}: not a results file of dlf reproduce ({e}); move it away or use another --out") from None  # fmt: skip


def run_plan(seeds: int, tiers: tuple[tuple[Recipe, ...], ...]) -> Iterator[tuple[int, Recipe]]:
    """Tier by tier, and within a tier seed by seed: a table stopped early has its cheap,
    essential rows at full seed count and every row of a tier at the same count."""
    for rows in tiers:
        for seed in range(seeds):
            for r in rows:
                yield seed, r


def reproduce(
    out: str | Path,
    seeds: int = 5,
    quick_run: bool = False,
    threads: int = 1,
    log: Callable[[str], None] = print,
) -> Path:
    """Run every row for `seeds` seeds into `out` (results.json, results.md, results.html,
    curves.png); runs already in results.json are kept, not rerun. Returns results.md.

    The order (`run_plan`): the paper's cheap rows and our recipe first, then the ablation
    and the GRU (the slowest by far), then the shuffled rows, then the leave-one-out row. `threads`: torch threads; these
    models are so small that a second thread buys little, and on a shared machine it costs."""
    if seeds < 1:
        raise DlfError(f"--seeds must be at least 1, not {seeds}")
    out = Path(out)
    gru = tuple(r for r in PAPER_ROWS if r.model == "mnist1d_gru")
    tiers = (
        (*(r for r in PAPER_ROWS if r not in gru), BEAT),
        (*(r for r in ABLATION_ROWS if r not in (BEAT, _NO_AUG)), *gru),
        SHUFFLED_ROWS,
        (_NO_AUG,),
    )
    if quick_run:
        seeds, tiers = 1, tuple(tuple(quick(r) for r in t) for t in tiers)
    store = out / "results.json"
    results = _load_results(store)
    steps = {r.name: r.steps for t in tiers for r in t}
    stale = [r for r in results if r.row in steps and r.extra.get("steps") != steps[r.row]]
    if stale:  # checked before anything is generated or trained
        raise DlfError(
            f"{store}: its '{stale[0].row}' runs were trained for {stale[0].extra.get('steps')} "
            f"steps, not {steps[stale[0].row]} (a --quick run?); use another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads)
    data = {False: load_mnist1d(), True: load_mnist1d(shuffle_seq=True)}
    done = {(r.row, r.seed) for r in results}
    for seed, recipe in run_plan(seeds, tiers):
        if (recipe.name, seed) in done:
            continue
        res = train_recipe(recipe, data[recipe.shuffle_seq], seed)
        results.append(res)
        atomic_write_text(store, json.dumps([asdict(r) for r in results], indent=1))
        _write_reports(out, results)  # a table stopped early is still a table
        log(f"seed {seed}  {recipe.name:55s} {res.test_acc:5.1f}%  {res.seconds:6.1f} s")
    return _write_reports(out, results)


def _write_reports(out: Path, results: list[RunResult]) -> Path:
    png = plot_curves(results) if results else None
    if png:
        atomic_write_bytes(out / "curves.png", png)
    md = render_markdown(results, environment(), "curves.png" if png else None)
    atomic_write_text(out / "results.md", md)
    atomic_write_text(out / "results.html", render_html(md, png))
    return out / "results.md"


__all__ = [
    "ABLATION_ROWS",
    "ABLATION_TABLE",
    "BEAT",
    "NOTEBOOK_FIGURES",
    "NOTEBOOK_SHUFFLED",
    "PAPER_FIGURES",
    "PAPER_ROWS",
    "SHUFFLED_ROWS",
    "Augment1d",
    "Mnist1d",
    "Recipe",
    "RunResult",
    "StepSampler",
    "dataset_args",
    "evaluate_accuracy",
    "load_mnist1d",
    "plot_curves",
    "quick",
    "render_markdown",
    "reproduce",
    "summarise",
    "train_recipe",
]
