"""The shared driver behind `dlf synth|train|predict|evaluate`: run folders, configs, logs,
checkpoints and reports are handled here once, so a task module only fills in its parts."""

import dataclasses
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dlf.core.atomic import atomic_write_text
from dlf.core.errors import DlfError
from dlf.core.hardware import resolve_device
from dlf.core.killpoint import kill_point
from dlf.core.paths import dlf_home
from dlf.core.seed import seed_everything
from dlf.core.version import __version__
from dlf.data.loaders import DataLoaders
from dlf.data.resident import ArrayLoader
from dlf.models.summary import min_input_size, total_stride
from dlf.report.html import write_run_report
from dlf.tasks.base import Context, Data, Parts, Task, TrainConfig
from dlf.tasks.common import array_loaders
from dlf.tasks.options import options_dict, parse_options
from dlf.train.callbacks import Checkpoint, CSVLogger, NanGuard, StopOnInterrupt
from dlf.train.checkpoint import load_weights, save_weights
from dlf.train.learner import Learner
from dlf.train.lr_find import LRFinder, Suggestions

RUN_FILES = (
    "config.json",
    "metrics.csv",
    "model.safetensors",
    "checkpoint",
    "report.html",
    "log.txt",
)


def synth(task: Task, folder: Path, n: int | None = None, seed: int = 0) -> Path:
    """Write a small dataset in the competition's layout; the folder appears whole or not at all."""
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise DlfError(
            f"{folder}: folder exists and is not empty; choose a new folder for the dataset"
        )
    tmp = folder.with_name(f".{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        task.synth(tmp, n or task.synth_n, seed)
        if folder.exists():
            folder.rmdir()
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def default_data(task: Task, log) -> Path:
    """The embedded default dataset: synthetic, in the real layout, generated once."""
    folder = dlf_home() / "data" / f"{task.name}-synth"
    if not folder.exists():
        log(
            f"no --data given: generating the embedded synthetic {task.name} dataset into {folder} (once)"
        )
        t = time.perf_counter()
        synth(task, folder, task.synth_n, seed=0)
        log(f"generated in {time.perf_counter() - t:.1f} s")
    return folder


class RunLog:
    """Prints a line and appends it to the run's log.txt."""

    def __init__(self, path: Path | None = None, quiet: bool = False) -> None:
        self.file = open(path, "a", buffering=1) if path else None  # noqa: SIM115 (closed in close())
        self.quiet = quiet

    def __call__(self, msg: str) -> None:
        if not self.quiet:
            print(msg, flush=True)
        self.to_file(msg)

    def to_file(self, msg: str) -> None:
        if self.file:
            self.file.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}\n")

    def close(self) -> None:
        if self.file:
            self.file.close()


def prepare_run_folder(run: Path, resume: bool, overwrite: bool) -> str:
    """Make `run` ready and say how to start: "new", "resume" (from the checkpoint) or
    "restart" (--resume on a run killed before its first checkpoint: start it again from
    the beginning with its saved settings). Refuses to mix two runs in one folder.

    A run that failed before its first checkpoint left only its log.txt (see
    `forget_failed_start`), so it counts as not started: the corrected command reuses it."""
    if run.is_dir():  # temporaries of atomic writes that a kill interrupted
        for tmp in [*run.glob(".*.tmp"), *run.glob("checkpoint/.*.tmp")]:
            tmp.unlink()
    started = run.is_dir() and any(run.iterdir())
    # A run killed before it wrote config.json leaves at most its log: nothing to keep.
    unstarted = started and {p.name for p in run.iterdir()} <= {"log.txt", "checkpoint"}
    if resume:
        if not (run / "config.json").is_file():
            if not unstarted:
                raise DlfError(
                    f"{run}: nothing to resume (no config.json); drop --resume to start a new run"
                )
            return "new"
        if not (run / "checkpoint" / "state.pt").is_file():
            return "restart"
        return "resume"
    if started and not unstarted:
        if not (run / "config.json").is_file():
            raise DlfError(f"{run}: folder is not empty and is not a dlf run; choose another --out")
        if not overwrite:
            raise DlfError(
                f"{run}: holds a run already; pass --resume to continue it, --overwrite to replace it, or another --out"
            )
        for name in RUN_FILES:
            p = run / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    run.mkdir(parents=True, exist_ok=True)
    return "new"


def forget_failed_start(run: Path) -> None:
    """After a failure before the first checkpoint, drop the run's settings and partial files
    (log.txt stays, with the error): there is no training to keep, and a saved config.json
    would refuse the corrected command ("holds a run already") or let --resume replay the bad
    settings."""
    for name in RUN_FILES:
        p = run / name
        if name == "log.txt":
            continue
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def changed_settings(given: TrainConfig, saved: TrainConfig) -> list[str]:
    """The settings given to a --resume (not None) that differ from the run's saved ones."""
    changed = []
    for f in dataclasses.fields(TrainConfig):
        name, new, old = f.name, getattr(given, f.name), getattr(saved, f.name)
        if name in ("task", "out", "options", "device") or new is None:
            continue  # the device may change: a run can continue on another machine
        same = Path(new).resolve() == Path(old).resolve() if name == "data" and old else new == old
        if not same:
            changed.append(f"--{name.replace('_', '-')} {new} (saved: {old})")
    for k, v in given.options.items():
        if saved.options.get(k) != v:
            changed.append(f"--option {k}={v} (saved: {saved.options.get(k)})")
    return changed


def refuse_changed_settings(
    run: Path, given: TrainConfig, saved: TrainConfig, has_checkpoint: bool
) -> None:
    """--resume continues with the saved settings; new ones are refused, never ignored."""
    changed = changed_settings(given, saved)
    if not changed:
        return
    what = ", ".join(changed)
    if has_checkpoint:
        raise DlfError(
            f"{run}: --resume continues the run with its saved settings, but you gave {what}; "
            "a one-cycle schedule cannot be extended or changed midway: drop them to resume "
            "as saved, or start a new run with them (--overwrite, or another --out)"
        )
    raise DlfError(
        f"{run}: --resume restarts this run (it has no checkpoint yet) with its saved settings, "
        f"but you gave {what}; to start it with these, pass --overwrite instead of --resume "
        "(nothing is lost: it had not trained yet)"
    )


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def train_batches(dl) -> tuple[int, int, int] | None:
    """(training items, batches, size of the smallest batch) of a loader that tells its
    batch size: dlf's ArrayLoader or torch's DataLoader, bare or in a DeviceLoader."""
    inner = getattr(dl, "loader", dl)
    bs = getattr(inner, "bs", None) or getattr(inner, "batch_size", None)
    sampler = getattr(inner, "sampler", None)
    if sampler is not None and hasattr(sampler, "__len__"):
        n = len(sampler)
    elif hasattr(inner, "indices"):
        n = len(inner.indices)
    else:
        return None
    if not bs:
        return None
    if getattr(inner, "drop_last", False):
        return n, n // bs, bs
    return n, -(-n // bs), n % bs or bs


def check_trainable(parts: Parts, cfg: TrainConfig, log) -> None:
    """Refuse settings the model cannot train with (one line each), and warn about a size it
    trains badly at, before any time is spent training."""
    model, arch = parts.model, cfg.arch
    if isinstance(cfg.size, int):
        smallest = min_input_size(model)
        if smallest is not None and cfg.size < smallest:
            raise DlfError(
                f"--size {cfg.size} is too small for {arch}: its layers shrink a {cfg.size}x{cfg.size} "
                f"image to nothing; the smallest size it takes is {smallest} px: pass --size {smallest} or more"
            )
        stride = total_stride(model)
        if stride is not None and cfg.size < stride:
            # A warning, not a refusal: the model runs, it just learns little (resnet18 on the
            # folder task's shapes, 10 epochs: 44% at 7 px, 42% at 28 px, 70% at 64 px, chance
            # 33%), and comparing sizes is an experiment worth allowing. Sizes the forward pass
            # cannot take at all are refused above.
            log(
                f"warning: --size {cfg.size} is below {arch}'s total stride ({stride} px): its "
                f"deepest layers see a 1x1 map and it may learn little; use --size {stride} or more"
            )
    batches = train_batches(parts.dls.train)
    if batches is None:
        return
    n, n_batches, smallest_batch = batches
    if n_batches == 0:
        raise DlfError(
            f"--bs {cfg.bs} is more than the {n} training items, so an epoch has no full batch "
            f"and nothing would train; use --bs {max(1, n // 2)} or less"
        )
    if has_batchnorm(model) and cfg.bs < 2:
        raise DlfError(
            f"--bs {cfg.bs}: {arch} has batch norm, which needs at least 2 images per training "
            "batch; use --bs 2 or more (16 or more gives steadier statistics)"
        )
    if has_batchnorm(model) and smallest_batch < 2:
        raise DlfError(
            f"{n} training items in batches of {cfg.bs} leave a last batch of 1, and {arch} has "
            "batch norm, which needs at least 2 images per batch; add images or change --bs"
        )


@dataclass
class Training:
    """What the driver composed from a task's parts for training."""

    ctx: Context
    train: Data
    valid_idx: np.ndarray
    parts: Parts
    callbacks: list


def context(task: Task, cfg: TrainConfig, data: Path, log, fitted: dict | None = None) -> Context:
    """The settings every part reads, with the task's options parsed by their types."""
    opts = parse_options(task.Options, cfg.options, task.name)
    return Context(cfg=cfg, opts=opts, fitted=dict(fitted or {}), data=Path(data), log=log)


def build_training(task: Task, cfg: TrainConfig, data: Path, log) -> Training:
    """read -> columns -> facts -> split -> sampler -> loaders -> model, loss, metrics: the same
    composition for every task (the order also fixes the random draws, so runs repeat)."""
    ctx = context(task, cfg, data, log)
    train = task.data(ctx, "train")
    ctx = dataclasses.replace(ctx, fitted=task.fit_facts(ctx, train))
    train_idx, valid_idx = task.split(ctx, train)
    sampler, callbacks = task.sampler(ctx, train, train_idx)
    train_dl, valid_dl = array_loaders(train.columns, train_idx, valid_idx, cfg.bs, sampler)
    dls = DataLoaders(train_dl, valid_dl, batch_tfms=task.transforms(ctx))
    parts = Parts(dls, task.model(ctx), task.loss(ctx), task.metrics(ctx), task.metric_name)
    return Training(ctx, train, np.asarray(valid_idx), parts, callbacks)


def inference_loaders(task: Task, ctx: Context, test: Data, device) -> DataLoaders:
    """Loaders over the test split whose `valid` side applies the task's inference transforms
    (those without train_only), exactly as validation batches were encoded."""
    loader = ArrayLoader(test.columns, np.arange(len(test)), bs=ctx.cfg.bs * 2)
    return DataLoaders(loader, loader, batch_tfms=task.transforms(ctx), device=device)


def validation_predictions(task: Task, ctx: Context, learn: Learner) -> tuple:
    """The one inference loop on the validation set, with the run's TTA and precision."""
    return learn.get_preds(act=task.activation(ctx), tta=ctx.cfg.tta, dense=task.dense)


def environment(learn: Learner | None = None) -> dict:
    env = {
        "dlf": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads",
    }
    if learn is not None:
        env["device"] = str(learn.device)
        env["precision"] = learn.precision.name + (", channels_last" if learn.channels_last else "")
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name()
    return env


def train(
    task: Task, cfg: TrainConfig, resume: bool = False, overwrite: bool = False, quiet: bool = False
) -> dict:
    """Train a task end to end; returns the final config (with the fitted post-processing)."""
    run = Path(cfg.out or f"runs/{task.name}")
    mode = prepare_run_folder(run, resume, overwrite)
    resuming = mode == "resume"
    saved = None
    if mode in ("resume", "restart"):  # checked before anything is written, the log included
        saved = TrainConfig(**json.loads((run / "config.json").read_text())["config"])
        given = options_dict(parse_options(task.Options, cfg.options, task.name))
        cfg.options = {k: given[k] for k in cfg.options}  # compared by value, not by spelling
        refuse_changed_settings(run, cfg, saved, has_checkpoint=resuming)
    log = RunLog(run / "log.txt", quiet=quiet)
    stop = None
    wrote_config = False
    try:
        if saved is not None:
            if cfg.device is not None and cfg.device != saved.device:
                log(f"device: {cfg.device} (the run so far used {saved.device})")
                saved.device = cfg.device
            cfg = saved.fill_defaults({})  # configs saved before a field existed
            if resuming:
                log(f"resuming {run} with its saved settings")
            else:
                log(f"{run}: no checkpoint yet; starting the run again with its saved settings")
        else:
            cfg.fill_defaults(task.defaults)
            cfg.out = str(run)
            # typed and complete in config.json: "1" from the command line is saved as 1
            cfg.options = options_dict(parse_options(task.Options, cfg.options, task.name))
        device = resolve_device(cfg.device)  # a missing GPU is an error now, not after the data
        data = Path(cfg.data) if cfg.data else default_data(task, log)
        if not data.is_dir():
            raise DlfError(
                f"{data}: data folder not found; pass --data DIR (or omit it for the embedded dataset)"
            )
        cfg.data = str(data)
        atomic_write_text(
            run / "config.json", json.dumps({"config": dataclasses.asdict(cfg)}, indent=2)
        )
        wrote_config = True

        seed_everything(cfg.seed)
        built = build_training(task, cfg, data, log)
        ctx, parts = built.ctx, built.parts
        check_trainable(parts, cfg, log)
        parts.dls.to(device)
        checkpoint = Checkpoint(run, every_steps=cfg.checkpoint_every)
        stop = StopOnInterrupt(checkpoint, run, log, task.name)
        cbs = [CSVLogger(run / "metrics.csv"), checkpoint, stop, NanGuard(checkpoint.state_path)]
        learn = Learner(parts.model, parts.dls, parts.loss_func, metrics=parts.metrics, precision=cfg.precision,
                        cbs=[*cbs, *built.callbacks], logger=log)  # fmt: skip
        if resuming:
            learn.load_checkpoint(run / "checkpoint" / "state.pt")
        learn.fit_one_cycle(cfg.epochs, cfg.lr)
        if stop.hit:
            raise DlfError(
                f"{run}: interrupted; resume with: dlf train {task.name} --out {run} --resume"
            )

        kill_point("before_postprocess", learn)  # test hooks; see dlf.core.killpoint
        preds, *targets = validation_predictions(task, ctx, learn)
        target = targets[0] if len(targets) == 1 else tuple(targets)
        post = task.fit_postprocess(ctx, preds, target)
        if post:
            post = {**post, "tta": cfg.tta}  # the TTA the settings were fitted with
        score = task.score(ctx, preds, target, post)
        save_weights(learn.model, run / "model.safetensors")
        result = {
            "config": dataclasses.asdict(cfg),
            "fitted": ctx.fitted,
            "postprocess": post,
            "valid": {task.metric_name: score},
        }
        atomic_write_text(run / "config.json", json.dumps(result, indent=2))
        kill_point("after_postprocess", learn)

        rec = learn.recorder
        write_run_report(
            run / "report.html",
            title=f"dlf {task.name}: {run.name}",
            config={**dataclasses.asdict(cfg), **{f"fitted {k}": v for k, v in post.items()}},
            environment=environment(learn),
            rows=rec.values,
            metric_names=[m.name for m in learn.metrics],
            lrs=rec.lrs,
            losses=rec.losses,
            stats=rec.stats,
            final={task.metric_name: score},
            **task.report(ctx, built.train, built.valid_idx, preds, target, post),
        )
        if rec.stats:
            speed = sorted(s["items_per_second"] for s in rec.stats)[len(rec.stats) // 2]
            wait = sorted(s["data_wait_share"] for s in rec.stats)[len(rec.stats) // 2]
            log(
                f"training: {speed:.1f} images/s, {100 * wait:.1f}% of the time waiting for data (medians over epochs)"
            )
        log(f"run folder: {run} (report: {run / 'report.html'})")
        # Post-processing fitted on the validation images flatters them; say so, since
        # `dlf evaluate` on held-out labels will print a lower, honest figure.
        fit = [k for k in post if k != "tta"]
        fitted = f" ({', '.join(fit)} fitted on these same images: optimistic)" if fit else ""
        log(f"validation {task.metric_name} {score:.6f}{fitted}")
        return result
    except Exception as e:
        if isinstance(e, DlfError):
            log.to_file(f"error: {e}")  # the reason a run stopped belongs in its log too
        if wrote_config and not (run / "checkpoint" / "state.pt").is_file():
            forget_failed_start(run)
            log.to_file("nothing trained yet: rerun with corrected settings, same --out")
        raise
    finally:
        if stop is not None:
            stop.restore()  # a run that stopped with an error leaves Ctrl-C as it found it
        log.close()


def load_run(task: Task, run: Path) -> tuple[TrainConfig, dict, dict]:
    """A finished run's settings, fitted facts and post-processing."""
    run = Path(run)
    cfg_path = run / "config.json"
    if not cfg_path.is_file():
        raise DlfError(
            f"{run}: not a run folder (no config.json); pass the --out folder of `dlf train`"
        )
    saved = json.loads(cfg_path.read_text())
    cfg = TrainConfig(**saved["config"]).fill_defaults(task.defaults)
    if cfg.task != task.name:
        raise DlfError(f"{run}: this run trained task {cfg.task!r}, not {task.name!r}")
    if "postprocess" not in saved:
        raise DlfError(
            f"{run}: the run did not finish; resume it with: dlf train {task.name} --out {run} --resume"
        )
    return cfg, saved.get("fitted", {}), saved["postprocess"]


def predict(
    task: Task,
    run: Path,
    data: Path | None,
    out: Path | None,
    tta: int | None = None,
    device: str | None = None,
) -> Path:
    """Write the submission from the run folder alone: the test split through the same
    columns and transforms as validation, the one inference loop under the run's precision,
    with the TTA the post-processing was fitted with, on `device` (default auto)."""
    run = Path(run)
    cfg, fitted, post = load_run(task, run)
    fitted_tta = post.get("tta", cfg.tta) if post else None
    if tta is not None and fitted_tta is not None and tta != fitted_tta:
        raise DlfError(
            f"{run}: its post-processing ({', '.join(k for k in post if k != 'tta')}) was fitted "
            f"on validation predictions with --tta {fitted_tta}; predict with --tta {fitted_tta} "
            f"(or leave it out), or train again with --tta {tta}"
        )
    cfg.tta = tta or fitted_tta or cfg.tta
    cfg.device = device or "auto"
    dev = resolve_device(cfg.device)
    log = RunLog(None)
    data = Path(data or cfg.data)
    if not data.is_dir():
        raise DlfError(f"{data}: data folder not found; pass --data DIR")
    out = Path(out or run / "submission.csv")
    ctx = context(task, cfg, data, log, fitted)
    test = task.data(ctx, "test")
    model = task.model(ctx)
    load_weights(model, run / "model.safetensors")
    dls = inference_loaders(task, ctx, test, dev)
    learn = Learner(
        model, dls, loss_func=None, precision=cfg.precision, default_cbs=False, logger=log
    )
    preds, *_ = learn.get_preds(dls.valid, act=task.activation(ctx), tta=cfg.tta, dense=task.dense)
    path = task.write(ctx, test, preds, post, out)
    log(f"submission written: {path} ({len(test)} test items, {cfg.tta} TTA pass(es), "
        f"{learn.precision.name})")  # fmt: skip
    return path


def evaluate(task: Task, truth: Path, pred: Path) -> float:
    for p in (truth, pred):
        if not Path(p).is_file():
            raise DlfError(f"{p}: file not found")
    return task.evaluate(Path(truth), Path(pred))


def run_cli_safely(fn, debug: bool) -> int:
    """Turn a DlfError into one line on stderr and exit status 2 (a traceback with --debug)."""
    try:
        fn()
        return 0
    except DlfError as e:
        if debug:
            raise
        print(f"dlf: error: {e}", file=sys.stderr)
        return 2


def lr_find(task: Task, cfg: TrainConfig, out_png: Path, **sweep) -> Suggestions:
    """Build the task as `train` would (no run folder), sweep the learning rate, log the
    suggestions and save the plot to `out_png`. `sweep`: start_lr, end_lr, num_it."""
    from dlf.core.atomic import atomic_write_bytes
    from dlf.report.plots import plot_lr_find

    out_png = Path(out_png)
    if out_png.suffix.lower() != ".png":
        raise DlfError(f"{out_png}: the plot is written as PNG; give --out a .png file name")
    LRFinder(**sweep)  # refuses bad sweep settings now, not after building the task
    log = RunLog(None)
    cfg.fill_defaults(task.defaults)
    data = Path(cfg.data) if cfg.data else default_data(task, log)
    if not data.is_dir():
        raise DlfError(
            f"{data}: data folder not found; pass --data DIR (or omit it for the embedded dataset)"
        )
    seed_everything(cfg.seed)
    parts = build_training(task, cfg, data, log).parts
    learn = Learner(parts.model, parts.dls, parts.loss_func, precision=cfg.precision, logger=log)
    sug = learn.lr_find(show_plot=False, **sweep)
    f = learn.lr_finder
    atomic_write_bytes(out_png, plot_lr_find(f.lrs, f.losses, sug))
    log(f"plot: {out_png}")
    log(
        f"train with one of them, e.g. the valley: dlf train {task.name} --lr {sug.valley:.1e}"
        " (the maximum rate of the one-cycle schedule)"
    )
    return sug
