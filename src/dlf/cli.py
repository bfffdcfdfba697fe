"""The `dlf` command: one verb per step of a Kaggle project, shared by every task.

    dlf synth TASK DIR [--n N] [--seed S]
    dlf train TASK [--data DIR] [--out RUN] [--epochs N] [--arch NAME] [--size PX] [--bs N]
                   [--lr X] [--seed S] [--precision auto|fp32|bf16|fp16] [--device D]
                   [--option KEY=VALUE] [--use [KIND=]FILE:NAME] [--resume] [--overwrite]
                   [--recipe NAME] [--time-budget 8h] [--who NAME] [--note TEXT]
    dlf lr-find TASK [--data DIR] [--out FILE.png] [--arch NAME] [--size PX] [--bs N]
                     [--option KEY=VALUE] [--num-it N] [--start-lr X] [--end-lr X]
    dlf predict TASK --run RUN [--data DIR] [--out FILE] [--tta N] [--device D]
    dlf evaluate TASK --pred FILE --truth FILE   (the truth inputs are the task's own)
    dlf summary ARCH [--size PX]
    dlf env
    dlf report RUN [RUN ...] [--out FILE]
    dlf export RUN --format onnx|torchscript|exported [--out FILE]
    dlf meetup RUN|ZIP [...] [--out board.html] [--md board.md] [truth inputs, e.g. --truth FILE]
    dlf pack RUN [--out RUN.zip]
    dlf reproduce mnist1d [--seeds N] [--out DIR] [--quick]
    dlf exercise list | dlf exercise start WEEK [--to FILE]
    dlf check WEEK FILE [--only NAME]      (exit 0 only when every check passes)

Bad input or a bad argument ends with one line on stderr and exit status 2 (`--debug`
shows the traceback instead).
"""

import argparse
import sys
from pathlib import Path

from dlf.core.errors import DlfError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own usage errors: one line, status 2
        raise DlfError(f"{self.prog}: {message} (see {self.prog} --help)")


def _task_arg(p: argparse.ArgumentParser) -> None:
    from dlf.tasks.registry import list_tasks

    p.add_argument("task", metavar="TASK", help=f"one of: {', '.join(list_tasks())}")


def cmd_synth(args) -> None:
    from dlf.tasks.registry import get_task
    from dlf.tasks.runner import synth

    task = get_task(args.task)
    print(f"writing a synthetic {task.name} dataset of {args.n or task.synth_n} training items to {args.dir} ...",
          flush=True)  # fmt: skip
    folder = synth(task, Path(args.dir), args.n, args.seed)
    print(f"wrote a synthetic {args.task} dataset to {folder}")


def cmd_train(args) -> None:
    from dlf.core.dist import launched_by_torchrun
    from dlf.tasks.base import TrainConfig
    from dlf.tasks.registry import get_task
    from dlf.tasks.runner import forget_unstarted_run, train

    if args.nproc and args.nproc > 1 and not launched_by_torchrun():
        from dlf.core.launch import launch

        run = Path(args.out or f"runs/{get_task(args.task).name}")
        fresh = not (run / "config.json").exists()
        code = launch(args.nproc, args.argv)
        if code:  # the failed rank has printed its one-line error
            if fresh:  # the others were stopped before they could tidy up
                forget_unstarted_run(run)
            raise SystemExit(code)
        return

    task = get_task(args.task)
    options = dict(args.option or [])
    cfg = TrainConfig(task=task.name, data=args.data, out=args.out, epochs=args.epochs, arch=args.arch,
                      size=args.size, bs=args.bs, lr=args.lr, seed=args.seed, precision=args.precision,
                      checkpoint_every=args.checkpoint_every, options=options, device=args.device,
                      tta=args.tta, use=args.use, recipe=args.recipe, sync_bn=args.sync_bn or None,
                      compile=args.compile or None, who=args.who, note=args.note)  # fmt: skip
    train(task, cfg, resume=args.resume, overwrite=args.overwrite, time_budget=args.time_budget)


def cmd_lr_find(args) -> None:
    from dlf.tasks.base import TrainConfig
    from dlf.tasks.registry import get_task
    from dlf.tasks.runner import lr_find

    task = get_task(args.task)
    options = dict(args.option or [])
    cfg = TrainConfig(task=task.name, data=args.data, arch=args.arch, size=args.size, bs=args.bs,
                      seed=args.seed, precision=args.precision, options=options)  # fmt: skip
    out = Path(args.out or f"lr_find_{task.name}.png")
    lr_find(task, cfg, out, start_lr=args.start_lr, end_lr=args.end_lr, num_it=args.num_it)


def cmd_predict(args) -> None:
    from dlf.tasks.registry import get_task
    from dlf.tasks.runner import predict

    predict(
        get_task(args.task),
        Path(args.run),
        args.data and Path(args.data),
        args.out and Path(args.out),
        args.tta,
        device=args.device,
    )


def cmd_evaluate(args) -> None:
    from dlf.tasks.registry import get_task
    from dlf.tasks.runner import evaluate

    task = get_task(args.task)
    # the truth inputs are the task's own (`Task.truth_inputs`), so they are parsed once the
    # task is known: `--truth` for most tasks, four files for Open Images
    truth_parser = _Parser(prog=f"dlf evaluate {task.name}")
    for name, help in task.truth_inputs.items():
        truth_parser.add_argument(f"--{name}", help=help)
    truth = {k: v for k, v in vars(truth_parser.parse_args(args.truth_args)).items() if v}
    value = evaluate(task, Path(args.pred), **truth)
    # `dlf train` ends with the validation score; this one is the score on the truth file's
    # labels, which nothing was fitted on. The last line stays "METRIC VALUE" for scripts.
    against = ", ".join(str(v) for v in truth.values())
    print(f"test score of {args.pred} against {against} (nothing fitted on these labels):")
    print(f"{task.metric_name} {value:.6f}")


def cmd_summary(args) -> None:
    from dlf.models.summary import summary_main

    print(summary_main(args.arch, args.size, in_chans=args.in_chans, num_classes=args.num_classes))


def cmd_env(args) -> None:
    from dlf.data.env import env_report

    print(env_report())


def cmd_report(args) -> None:
    from dlf.report.html import compare_runs

    out = compare_runs([Path(r) for r in args.runs], Path(args.out))
    print(f"wrote {out}")
    print("for the meetup (leaderboard, what differs, where runs disagree): dlf meetup RUN...")


def cmd_meetup(args) -> None:
    from dlf.tasks.meetup import meetup

    out = meetup(args.runs, Path(args.out), args.md and Path(args.md), args.truth_args)
    print(f"wrote {out}" + (f" and {args.md}" if args.md else ""))


def cmd_pack(args) -> None:
    from dlf.report.runs import pack_run

    print(f"wrote {pack_run(Path(args.run), args.out and Path(args.out))}")


def cmd_export(args) -> None:
    from dlf.tasks.export import export_run, run_task
    from dlf.tasks.registry import get_task

    path = export_run(get_task(run_task(Path(args.run))), Path(args.run), args.format,
                      args.out and Path(args.out))  # fmt: skip
    print(f"wrote {path} and {path.name}.json (how to prepare the input, what the outputs mean)")


def cmd_reproduce(args) -> None:
    from dlf.papers.mnist1d import reproduce

    out = Path(args.out or ("runs/mnist1d-quick" if args.quick else "runs/mnist1d"))
    print(f"reproducing MNIST-1D into {out} (finished runs there are kept) ...", flush=True)
    print(f"wrote {reproduce(out, seeds=args.seeds, quick_run=args.quick)}")


def cmd_exercise(args) -> None:
    from dlf.exercises.commands import exercise_list, exercise_start

    if args.action == "list":
        print(exercise_list())
        return
    if args.week is None:
        raise DlfError("dlf exercise start needs the week: dlf exercise start week3 [--to FILE]")
    out = exercise_start(args.week, args.to and Path(args.to))
    print(f"wrote {out}: fill in the functions, then run: dlf check {args.week} {out}")


def cmd_check(args) -> int:
    from dlf.exercises.commands import check_file

    results, table = check_file(args.week, Path(args.file), args.only)
    print(table)
    return 0 if all(r.passed for r in results) else 1


def _positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a whole number") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"{s} must be positive")
    return v


def _tta_passes(s: str) -> int | str:
    """--tta: N symmetries (1-8), a name (flip, dihedral, ...), either with @scales."""
    from dlf.train.tta import TTASpec

    try:
        return TTASpec.parse(s).setting()  # 2 stays 2 in config.json; "8@1,1.25" as written
    except DlfError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _positive_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a number") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"{s} must be positive")
    return v


def _duration(s: str) -> float:
    """'8h', '90m', '1h30m', '45s' or plain seconds -> seconds."""
    import re

    parts = re.fullmatch(
        r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?", s.strip()
    )
    if not s.strip() or parts is None:
        raise argparse.ArgumentTypeError(f"{s!r} is not a duration (e.g. 8h, 90m, 1h30m, 600s)")
    h, m, sec = (float(x or 0) for x in parts.groups())
    seconds = 3600 * h + 60 * m + sec
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{s} must be longer than zero")
    return seconds


def _key_value(s: str) -> tuple[str, str]:
    key, eq, value = s.partition("=")
    if not eq or not key:
        raise argparse.ArgumentTypeError(
            f"{s!r} is not KEY=VALUE (e.g. --option pretrained=r18.pth)"
        )
    return key, value


DEVICE_HELP = "auto (CUDA, then Apple MPS, then CPU), cpu, cuda, cuda:N or mps"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dlf", description="deep learning foundations: Kaggle projects, week by week"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("synth", help="write a small dataset in the competition's real layout")
    _task_arg(p)
    p.add_argument("dir")
    p.add_argument("--n", type=_positive_int, default=None, help="number of training items")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser(
        "train", help="train a task; without --data, on the embedded synthetic dataset"
    )
    _task_arg(p)
    p.add_argument("--data", help="the competition's folder (default: embedded synthetic data)")
    p.add_argument("--out", help="run folder (default: runs/TASK)")
    p.add_argument("--epochs", type=_positive_int)
    p.add_argument("--arch", help="a model name from `dlf.models.list_models()`")
    p.add_argument("--size", type=_positive_int, help="image size in pixels")
    p.add_argument("--bs", type=_positive_int, help="batch size")
    p.add_argument(
        "--lr", type=_positive_float, help="maximum learning rate of the one-cycle schedule"
    )
    # No defaults here: None means "not given", so --resume can refuse changed settings
    # (the defaults, seed 42, precision auto, device auto, are filled in by the runner).
    p.add_argument("--seed", type=int, help="random seed (default 42)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], help="default auto")
    p.add_argument("--device", help=DEVICE_HELP + " (default auto)")
    p.add_argument("--checkpoint-every", type=_positive_int, help="also checkpoint every N steps")
    p.add_argument("--tta", type=_tta_passes,
                   help="test-time augmentation for the validation predictions the post-processing "
                   "is fitted on, and later the submission: N symmetries (1-8; or none, flip, flips, "
                   "dihedral), optionally @scales for maps, e.g. 2@1,1.25 (dlf.train.tta)")  # fmt: skip
    p.add_argument("--option", action="append", type=_key_value, metavar="KEY=VALUE",
                   help="a task-specific setting")  # fmt: skip
    p.add_argument("--use", action="append", metavar="[KIND=]FILE:NAME",
                   help="your own optimizer, loss, schedule, block or dataset in place of dlf's "
                   "(e.g. my_week4.py:Adam; see `dlf exercise list`)")  # fmt: skip
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its checkpoint, with its saved settings "
        "(other settings given with it are refused; only --device may change)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    p.add_argument("--recipe", help="a named set of the task's settings, e.g. kaggle (the public "
                   "winning-style GPU settings; sources in docs/tasks/TASK.md); given ones win")  # fmt: skip
    p.add_argument("--time-budget", type=_duration, metavar="DURATION",
                   help="e.g. 8h: stop training early enough that this command, predictions "
                   "and files included, ends within it (a Kaggle kernel's limit)")  # fmt: skip
    p.add_argument("--nproc", type=_positive_int,
                   help="train as N processes on this machine (torch's elastic launcher, as "
                   "torchrun --standalone --nproc_per_node N); see docs/scale-out.md")  # fmt: skip
    p.add_argument("--sync-bn", action="store_true",
                   help="with several processes: batch norm statistics over all of them")  # fmt: skip
    p.add_argument("--compile", action="store_true",
                   help="train through torch.compile (the first steps compile; worth it on GPUs)")  # fmt: skip
    p.add_argument("--who", help="your name, shown on the meetup board")
    p.add_argument("--note", help="one line on what this run tries, shown on the meetup board")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "lr-find", help="sweep the learning rate, print fastai's suggestions, save the plot"
    )
    _task_arg(p)
    p.add_argument("--data", help="the competition's folder (default: embedded synthetic data)")
    p.add_argument("--out", help="the plot, a PNG file (default: lr_find_TASK.png)")
    p.add_argument("--arch", help="a model name from `dlf.models.list_models()`")
    p.add_argument("--size", type=_positive_int, help="image size in pixels")
    p.add_argument("--bs", type=_positive_int, help="batch size")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto")
    p.add_argument("--option", action="append", type=_key_value, metavar="KEY=VALUE",
                   help="a task-specific setting")  # fmt: skip
    p.add_argument("--start-lr", type=_positive_float, default=1e-7)
    p.add_argument("--end-lr", type=_positive_float, default=10.0)
    p.add_argument("--num-it", type=_positive_int, default=100, help="steps in the sweep (>= 10)")
    p.set_defaults(func=cmd_lr_find)

    p = sub.add_parser("predict", help="write the competition's submission file")
    _task_arg(p)
    p.add_argument("--run", required=True, help="a run folder written by `dlf train`")
    p.add_argument("--data", help="the competition's folder (default: the run's)")
    p.add_argument("--out", help="submission file (default: RUN/submission.csv)")
    p.add_argument(
        "--tta", type=_tta_passes,
        help="test-time augmentation, as for train (default: the run's, which its post-processing was fitted with)",
    )  # fmt: skip
    p.add_argument("--device", help=DEVICE_HELP + " (default auto)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("evaluate", help="score a submission with the competition's metric")
    _task_arg(p)
    p.add_argument("--pred", required=True)
    p.epilog = ("and the task's truth inputs: --truth FILE for most tasks; oid takes --truth-boxes, "
                "--truth-labels, --hierarchy and --classes (a missing one is named)")  # fmt: skip
    p.set_defaults(func=cmd_evaluate, takes_extra=True)

    p = sub.add_parser("summary", help="layers, output shapes, parameters and FLOPs of a model")
    p.add_argument("arch")
    p.add_argument("--size", type=_positive_int, default=224)
    p.add_argument("--in-chans", type=_positive_int, default=3)
    p.add_argument("--num-classes", type=_positive_int, default=1000)
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("env", help="versions, device, precision and optional packages")
    p.set_defaults(func=cmd_env)

    p = sub.add_parser("report", help="compare runs side by side in one HTML page")
    p.add_argument("runs", nargs="+")
    p.add_argument("--out", default="compare.html")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("export", help="write a run's model as ONNX, TorchScript or torch.export")
    p.add_argument("run", help="a run folder written by `dlf train`")
    p.add_argument("--format", required=True, choices=["onnx", "torchscript", "exported"])
    p.add_argument("--out", help="model file (default RUN/export/model.onnx|.pt|.pt2)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "meetup", help="the meetup board: members' runs side by side (HTML, Markdown)"
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders or zips from `dlf pack`")
    p.add_argument("--out", default="board.html", help="the board (default board.html)")
    p.add_argument("--md", help="also a Markdown board, its figures in a folder beside it")
    p.epilog = (
        "and the tasks' truth inputs (as for dlf evaluate) to score each run's submission.csv"
    )
    p.set_defaults(func=cmd_meetup, takes_extra=True)

    p = sub.add_parser("pack", help="one zip of a run folder to send (no checkpoint)")
    p.add_argument("run")
    p.add_argument("--out", help="the zip (default: RUN.zip beside the folder)")
    p.set_defaults(func=cmd_pack)

    p = sub.add_parser("reproduce", help="reproduce a paper's results table (docs/papers/)")
    p.add_argument("paper", choices=["mnist1d"])
    p.add_argument("--seeds", type=_positive_int, default=5, help="seeds per row (default 5)")
    p.add_argument("--out", help="results folder (default runs/mnist1d)")
    p.add_argument("--quick", action="store_true", help="one seed, 200 steps a row: a smoke test")
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("exercise", help="the weekly exercises: list them, or write a starter file")
    p.add_argument("action", choices=["list", "start"])
    p.add_argument("week", nargs="?", help="week2, week3, week4 or week5 (for start)")
    p.add_argument("--to", help="the starter's file name (default my_WEEK.py; never overwritten)")
    p.set_defaults(func=cmd_exercise)

    p = sub.add_parser("check", help="grade your exercise file: one table, hints for mistakes")
    p.add_argument("week", help="week2, week3, week4 or week5")
    p.add_argument("file", help="your .py file (from `dlf exercise start WEEK`)")
    p.add_argument("--only", help="one exercise (or one of its function names)")
    p.set_defaults(func=cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        parser = build_parser()
        # `dlf evaluate` passes what it does not know to the task (its truth inputs)
        args, extra = parser.parse_known_args(argv)
        if extra and not getattr(args, "takes_extra", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.truth_args, args.argv = extra, argv
        return args.func(args) or 0  # `dlf check` returns 1 when a check failed
    except DlfError as e:
        if debug:
            raise
        if not e.said_by_main_rank:  # another rank of a torchrun job has printed it
            print(f"dlf: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:  # Ctrl-C outside a training loop (which handles its own)
        if debug:
            raise
        print("dlf: interrupted; rerun the command (a run folder: add --resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
