"""The shared driver behind `dlf synth|train|predict|evaluate`: run folders, configs, logs,
checkpoints and reports are handled here once, so a task module only fills in its parts."""

import dataclasses
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from dlf.core.atomic import atomic_write_text
from dlf.core.dist import (
    is_main_process,
    launched_by_torchrun,
    local_device,
    main_first,
    on_main,
    process_group,
    world_size,
)
from dlf.core.errors import DlfError
from dlf.core.hardware import resolve_device
from dlf.core.kaggle import competition_input, kaggle_working
from dlf.core.killpoint import kill_point
from dlf.core.paths import dlf_home, runs_root
from dlf.core.seed import seed_everything
from dlf.core.version import __version__
from dlf.report.html import write_run_report
from dlf.tasks.base import Task, TrainConfig
from dlf.tasks.board_files import write_board_files
from dlf.tasks.checks import check_trainable
from dlf.tasks.compose import (
    build_training,
    context,
    inference_loaders,
    model_with_member_parts,
    predictions,
)
from dlf.tasks.interpretation import interpretation_report
from dlf.tasks.options import options_dict, parse_options
from dlf.tasks.plugins import learner_settings, member_parts
from dlf.tasks.recipes import apply_recipe
from dlf.tasks.run_folder import (
    RUN_FILES,
    RunLog,
    forget_failed_start,
    prepare_run_folder,
    refuse_changed_settings,
)
from dlf.train.callbacks import Checkpoint, CSVLogger, NanGuard, StopOnInterrupt, TimeBudget
from dlf.train.checkpoint import load_weights, save_weights
from dlf.train.learner import Learner
from dlf.train.lr_find import LRFinder, Suggestions
from dlf.train.tta import TTASpec


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


def data_folder(task: Task, cfg: TrainConfig, log) -> Path:
    """The run's data: --data; else the competition's input in a Kaggle kernel
    (/kaggle/input/<slug>/); else the embedded synthetic dataset."""
    data = Path(cfg.data) if cfg.data else kaggle_data(task, log) or default_data(task, log)
    if not data.is_dir():
        raise DlfError(
            f"{data}: data folder not found; pass --data DIR (or omit it for the embedded dataset)"
        )
    return data


def kaggle_data(task: Task, log) -> Path | None:
    """The competition's files as a Kaggle kernel sees them, if attached (read-only)."""
    folder = competition_input(task.kaggle_slugs)
    if folder is not None:
        log(f"no --data given: using the competition's input {folder}")
    return folder


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
    if world_size() > 1:
        env["processes"] = str(world_size())
    return env


def train(
    task: Task,
    cfg: TrainConfig,
    resume: bool = False,
    overwrite: bool = False,
    quiet: bool = False,
    time_budget: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> dict:
    """Train a task end to end; returns the final config (with the fitted post-processing).

    time_budget: seconds for this whole call; training stops early enough that the
    validation predictions (with the run's TTA), post-processing and files still fit
    (`TimeBudget`, reading `clock`).

    Under torchrun (its RANK, WORLD_SIZE... in the environment) this process is one rank:
    the process group is set up around the run (see dlf.core.dist), every rank trains on
    its share, and the main rank alone writes the run folder and prints."""
    if not launched_by_torchrun():
        return _train(task, cfg, resume, overwrite, quiet, time_budget, clock)
    with process_group(local_device(resolve_device(cfg.device)).type):
        quiet = quiet or not is_main_process()
        return _train(task, cfg, resume, overwrite, quiet, time_budget, clock)


def _train(
    task: Task,
    cfg: TrainConfig,
    resume: bool,
    overwrite: bool,
    quiet: bool,
    time_budget: float | None,
    clock: Callable[[], float],
) -> dict:
    run = Path(cfg.out or runs_root() / task.name)
    main = is_main_process()
    mode = on_main(lambda: prepare_run_folder(run, resume, overwrite))
    resuming = mode == "resume"
    saved = None
    if mode in ("resume", "restart"):  # checked before anything is written, the log included
        saved = TrainConfig(**json.loads((run / "config.json").read_text())["config"])
        given = options_dict(parse_options(task.Options, cfg.options, task.name))
        cfg.options = {k: given[k] for k in cfg.options}  # compared by value, not by spelling
        on_main(lambda: refuse_changed_settings(run, cfg, saved, has_checkpoint=resuming))
    log = RunLog(run / "log.txt" if main else None, quiet=quiet)
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
            apply_recipe(task, cfg)  # --recipe: its settings, under those given
            cfg.fill_defaults(task.defaults)
            cfg.out = str(run)
            # typed and complete in config.json: "1" from the command line is saved as 1
            cfg.options = options_dict(parse_options(task.Options, cfg.options, task.name))
            # a member's parts, as KIND=FILE:NAME (a bad file is refused before anything runs)
            cfg.use = [p.spec for p in member_parts(cfg.use).values()] or None
        # a missing GPU is an error now, not after the data; under torchrun: this rank's GPU
        device = local_device(resolve_device(cfg.device))
        data = on_main(lambda: data_folder(task, cfg, log))  # generated once, by one rank
        cfg.data = str(data)
        if main:
            atomic_write_text(
                run / "config.json", json.dumps({"config": dataclasses.asdict(cfg)}, indent=2)
            )
        wrote_config = main

        seed_everything(cfg.seed)
        # the main rank first: a cache the data part builds is built once, then found
        built = main_first(lambda: build_training(task, cfg, data, log))
        ctx, parts = built.ctx, built.parts
        check_trainable(parts, cfg, log)
        parts.dls.to(device)
        checkpoint = Checkpoint(run, every_steps=cfg.checkpoint_every)
        stop = StopOnInterrupt(checkpoint, run, log, task.name)
        cbs = [CSVLogger(run / "metrics.csv"), checkpoint, stop, NanGuard(checkpoint.state_path)]
        opt, sched = learner_settings(built.member)  # a member's optimizer, schedule (--use)
        # after training: one validation pass per TTA pass, and as much again to spare
        tta = TTASpec.parse(cfg.tta)
        passes = tta.passes * len(tta.scales)
        budget = time_budget and TimeBudget(time_budget, reserve_passes=2.0 * passes, clock=clock)
        cbs += [budget] if budget else []
        learn = Learner(parts.model, parts.dls, parts.loss_func, metrics=parts.metrics, precision=cfg.precision,
                        cbs=[*cbs, *built.callbacks], logger=log, sync_bn=bool(cfg.sync_bn),
                        compile=bool(cfg.compile), **opt)  # fmt: skip
        if resuming:
            learn.load_checkpoint(run / "checkpoint" / "state.pt")
        learn.fit_one_cycle(cfg.epochs, cfg.lr, **sched)
        if stop.hit:
            raise DlfError(
                f"{run}: interrupted; resume with: dlf train {task.name} --out {run} --resume"
            )

        kill_point("before_postprocess", learn)  # test hooks; see dlf.core.killpoint
        preds, *targets = predictions(task, ctx, learn)
        target = targets[0] if len(targets) == 1 else tuple(targets)
        post = task.fit_postprocess(ctx, preds, target)
        if post:
            post = {**post, "tta": cfg.tta}  # the TTA the settings were fitted with
        score = task.score(ctx, preds, target, post)
        result = {
            "config": dataclasses.asdict(cfg),
            "fitted": ctx.fitted,
            "postprocess": post,
            "valid": {task.metric_name: score},
        }
        if budget and budget.stopped_after:
            result["time_budget"] = {"seconds": time_budget, "stopped_after": budget.stopped_after}
        if not main:  # every rank has the gathered predictions and the score; one writes
            return result
        save_weights(learn.model, run / "model.safetensors")
        write_board_files(task, run, learn, ctx, built.train, built.valid_idx, preds, target, post)
        atomic_write_text(run / "config.json", json.dumps(result, indent=2))
        kill_point("after_postprocess", learn)

        rec = learn.recorder
        extra = task.report(ctx, built.train, built.valid_idx, preds, target, post)
        why = interpretation_report(task, ctx, learn, built.train, built.valid_idx, extra)
        extra["tables"] = {**(extra.get("tables") or {}), **why.get("tables", {})}
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
            heatmaps=why.get("heatmaps", ()),
            **extra,
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


def forget_unstarted_run(run: Path) -> None:
    """After a multi-process launch whose ranks failed: if the run never reached its first
    checkpoint, do what a single process does on failure (`forget_failed_start`). The rank
    that failed said why; the others were stopped by the launcher before they could."""
    if (run / "config.json").is_file() and not (run / "checkpoint" / "state.pt").is_file():
        forget_failed_start(run)
        log = RunLog(run / "log.txt", quiet=True)
        log.to_file("nothing trained yet: rerun with corrected settings, same --out")
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
    # a kernel's submission is the submission.csv in its working folder
    working = kaggle_working()
    out = Path(out or (working if working is not None else run) / "submission.csv")
    ctx = context(task, cfg, data, log, fitted)
    test = task.data(ctx, "test")
    blocks = [u for u in cfg.use or [] if u.startswith("block=")]  # the run's own block class
    model = model_with_member_parts(task.model(ctx), member_parts(blocks))
    load_weights(model, run / "model.safetensors")
    dls = inference_loaders(task, ctx, test, dev)
    learn = Learner(
        model, dls, loss_func=None, precision=cfg.precision, default_cbs=False, logger=log
    )
    preds, *_ = predictions(task, ctx, learn, dls.valid)
    path = task.write(ctx, test, preds, post, out)
    log(f"submission written: {path} ({len(test)} test items, {cfg.tta} TTA pass(es), "
        f"{learn.precision.name})")  # fmt: skip
    return path


def evaluate(task: Task, pred: Path, **truth: Path) -> float:
    """Score submission `pred` with the task's metric against its truth inputs (by the names
    of `task.truth_inputs`: `truth=` for most tasks)."""
    missing = sorted(set(task.truth_inputs) - {k.replace("_", "-") for k in truth})
    if missing:
        raise DlfError(f"dlf evaluate {task.name} needs --{' --'.join(missing)}")
    for p in (pred, *truth.values()):
        if not Path(p).exists():
            raise DlfError(f"{p}: file not found")
    return task.evaluate(pred=Path(pred), **{k: Path(v) for k, v in truth.items()})


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
    data = data_folder(task, cfg, log)
    seed_everything(cfg.seed)
    built = build_training(task, cfg, data, log)
    parts = built.parts
    opt, _ = learner_settings(built.member)
    learn = Learner(
        parts.model, parts.dls, parts.loss_func, precision=cfg.precision, logger=log, **opt
    )
    sug = learn.lr_find(show_plot=False, **sweep)
    f = learn.lr_finder
    atomic_write_bytes(out_png, plot_lr_find(f.lrs, f.losses, sug))
    log(f"plot: {out_png}")
    log(
        f"train with one of them, e.g. the valley: dlf train {task.name} --lr {sug.valley:.1e}"
        " (the maximum rate of the one-cycle schedule)"
    )
    return sug


__all__ = [
    "RUN_FILES",
    "RunLog",
    "build_training",
    "check_trainable",
    "context",
    "default_data",
    "evaluate",
    "forget_unstarted_run",
    "inference_loaders",
    "kaggle_data",
    "load_run",
    "lr_find",
    "predict",
    "synth",
    "train",
]
