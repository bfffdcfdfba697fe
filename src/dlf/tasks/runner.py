"""The shared driver behind `dlf synth|train|predict|evaluate`: run folders, configs, logs,
checkpoints and reports are handled here once, so a task module only fills in its parts."""

import dataclasses
import json
import os
import platform
import shutil
import signal
import sys
import time
from pathlib import Path

import torch

from dlf.core.atomic import atomic_write_text
from dlf.core.errors import DlfError
from dlf.core.killpoint import kill_point
from dlf.core.seed import seed_everything
from dlf.report.html import write_run_report
from dlf.tasks.base import Task, TrainConfig
from dlf.train.callbacks import CancelFitException, Checkpoint, CSVLogger, NanGuard
from dlf.train.checkpoint import load_weights, save_weights
from dlf.train.learner import Learner

RUN_FILES = (
    "config.json",
    "metrics.csv",
    "model.safetensors",
    "checkpoint",
    "report.html",
    "log.txt",
)


def dlf_home() -> Path:
    return Path(os.environ.get("DLF_HOME", Path.home() / ".cache" / "dlf"))


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
    the beginning with its saved settings). Refuses to mix two runs in one folder."""
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


def environment(learn: Learner | None = None) -> dict:
    import dlf

    env = {
        "dlf": dlf.__version__,
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


class StopOnInterrupt:
    """Ctrl-C ends the run at the next batch boundary, after a resumable checkpoint."""

    order = 85  # after Checkpoint's own after_batch

    def __init__(self, checkpoint: Checkpoint, run: Path, log) -> None:
        self.checkpoint, self.run, self.log, self.hit = checkpoint, run, log, False
        self.previous = None  # the SIGINT handler to put back

    def before_fit(self, learn) -> None:
        self.previous = signal.signal(signal.SIGINT, self._handler)

    def restore(self) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None

    def _handler(self, signum, frame) -> None:
        if self.hit:  # a second Ctrl-C: stop at once
            signal.signal(signal.SIGINT, self.previous)
            raise KeyboardInterrupt
        self.hit = True

    def after_batch(self, learn) -> None:
        if self.hit and learn.training:
            self.checkpoint.save(learn, learn.iter + 1)
            raise CancelFitException

    def after_fit(self, learn) -> None:
        signal.signal(signal.SIGINT, self.previous)

    def after_cancel_fit(self, learn) -> None:
        signal.signal(signal.SIGINT, self.previous)
        if self.hit:
            self.log(
                f"interrupted: checkpoint saved; continue with: dlf train {learn.task_name} --out {self.run} --resume"
            )


def train(
    task: Task, cfg: TrainConfig, resume: bool = False, overwrite: bool = False, quiet: bool = False
) -> dict:
    """Train a task end to end; returns the final config (with the fitted post-processing)."""
    run = Path(cfg.out or f"runs/{task.name}")
    mode = prepare_run_folder(run, resume, overwrite)
    resuming = mode == "resume"
    log = RunLog(run / "log.txt", quiet=quiet)
    stop = None
    try:
        if mode in ("resume", "restart"):
            saved = json.loads((run / "config.json").read_text())
            cfg = TrainConfig(**saved["config"])
            if resuming:
                log(f"resuming {run} with its saved settings")
            else:
                log(f"{run}: no checkpoint yet; starting the run again with its saved settings")
        else:
            for k, v in task.defaults.items():
                if getattr(cfg, k) is None:
                    setattr(cfg, k, v)
            cfg.out = str(run)
        data = Path(cfg.data) if cfg.data else default_data(task, log)
        if not data.is_dir():
            raise DlfError(
                f"{data}: data folder not found; pass --data DIR (or omit it for the embedded dataset)"
            )
        cfg.data = str(data)
        atomic_write_text(
            run / "config.json", json.dumps({"config": dataclasses.asdict(cfg)}, indent=2)
        )

        seed_everything(cfg.seed)
        parts = task.build(cfg, data, log)
        checkpoint = Checkpoint(run, every_steps=cfg.checkpoint_every)
        stop = StopOnInterrupt(checkpoint, run, log)
        cbs = [CSVLogger(run / "metrics.csv"), checkpoint, stop, NanGuard(checkpoint.state_path)]
        learn = Learner(parts.model, parts.dls, parts.loss_func, metrics=parts.metrics, precision=cfg.precision,
                        cbs=[*cbs, *task.extra_callbacks(cfg)], logger=log)  # fmt: skip
        learn.task_name = task.name
        if resuming:
            learn.load_checkpoint(run / "checkpoint" / "state.pt")
        learn.fit_one_cycle(cfg.epochs, cfg.lr)
        if stop.hit:
            raise DlfError(
                f"{run}: interrupted; resume with: dlf train {task.name} --out {run} --resume"
            )

        kill_point("before_postprocess", learn)  # test hooks; see dlf.core.killpoint
        post = task.fit_postprocess(learn, cfg)
        score = task.final_score(learn, cfg, post)
        save_weights(learn.model, run / "model.safetensors")
        result = {
            "config": dataclasses.asdict(cfg),
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
            **task.report_extras(learn, cfg, post),
        )
        if rec.stats:
            speed = sorted(s["items_per_second"] for s in rec.stats)[len(rec.stats) // 2]
            wait = sorted(s["data_wait_share"] for s in rec.stats)[len(rec.stats) // 2]
            log(
                f"training: {speed:.1f} images/s, {100 * wait:.1f}% of the time waiting for data (medians over epochs)"
            )
        log(f"run folder: {run} (report: {run / 'report.html'})")
        log(f"{task.metric_name} {score:.6f}")
        return result
    except DlfError as e:
        log.to_file(f"error: {e}")  # the reason a run stopped belongs in its log too
        raise
    finally:
        if stop is not None:
            stop.restore()  # a run that stopped with an error leaves Ctrl-C as it found it
        log.close()


def load_run(task: Task, run: Path) -> tuple[TrainConfig, dict, torch.nn.Module]:
    run = Path(run)
    cfg_path = run / "config.json"
    if not cfg_path.is_file():
        raise DlfError(
            f"{run}: not a run folder (no config.json); pass the --out folder of `dlf train`"
        )
    saved = json.loads(cfg_path.read_text())
    cfg = TrainConfig(**saved["config"])
    if cfg.task != task.name:
        raise DlfError(f"{run}: this run trained task {cfg.task!r}, not {task.name!r}")
    if "postprocess" not in saved:
        raise DlfError(
            f"{run}: the run did not finish; resume it with: dlf train {task.name} --out {run} --resume"
        )
    model = task.build_model(cfg)
    load_weights(model, run / "model.safetensors")
    return cfg, saved["postprocess"], model


def predict(task: Task, run: Path, data: Path | None, out: Path | None, tta: int = 1) -> Path:
    cfg, post, model = load_run(task, run)
    log = RunLog(None)
    data = Path(data or cfg.data)
    if not data.is_dir():
        raise DlfError(f"{data}: data folder not found; pass --data DIR")
    out = Path(out or Path(run) / "submission.csv")
    path = task.predict(model, cfg, post, data, out, tta, log)
    log(f"submission written: {path}")
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
