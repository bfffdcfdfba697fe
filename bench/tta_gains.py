"""What does test-time augmentation buy on a trained run? One run's weights, several TTA
settings, each scored exactly as `dlf train` + `dlf predict` + `dlf evaluate` would:

for each setting (dlf.train.tta.TTASpec: 1, 2, 4, 8, 2@1,1.25, ...):
  1. validation predictions through the one inference loop with that TTA, the task's
     post-processing fitted on them (thresholds, ...), the validation metric (optimistic:
     fitted on these same images);
  2. test predictions with the same TTA and that post-processing, written as the task's
     submission and scored against the held-out answer key (nothing fitted on it);
  3. the wall time of the test pass, and its ratio to the first setting's, measured in
     this same process (a ratio, since the machine may be shared).
Usage:
    python bench/tta_gains.py RUN --tta 1 2 4 8 [--truth truth=test_labels.csv]
The run's data folder (config.json) holds the test images and the answer key; truth files
are named relative to it, one `--truth OPTION=FILE` per `Task.truth_inputs` entry.
"""

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from dlf.core.hardware import resolve_device
from dlf.core.seed import seed_everything
from dlf.tasks.compose import build_training, inference_loaders, predictions
from dlf.tasks.export import run_task
from dlf.tasks.registry import get_task
from dlf.tasks.runner import RunLog, load_run
from dlf.train.checkpoint import load_weights
from dlf.train.learner import Learner
from dlf.train.tta import TTASpec


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run")
    p.add_argument("--tta", nargs="+", default=["1", "2", "4", "8"])
    p.add_argument("--truth", action="append", default=[], metavar="OPTION=FILE")
    args = p.parse_args()
    run = Path(args.run)
    task = get_task(run_task(run))
    cfg, _fitted, _post = load_run(task, run)
    data = Path(cfg.data)
    truth = dict(t.split("=", 1) for t in args.truth) or {"truth": "test_labels.csv"}
    truth = {k.replace("-", "_"): data / v for k, v in truth.items()}
    quiet = RunLog(None, quiet=True)

    seed_everything(cfg.seed)  # the same split as the run's
    built = build_training(task, cfg, data, quiet)
    ctx, parts = built.ctx, built.parts
    load_weights(parts.model, run / "model.safetensors")
    device = resolve_device(cfg.device)
    parts.dls.to(device)
    learn = Learner(parts.model, parts.dls, parts.loss_func, precision=cfg.precision,
                    default_cbs=False, logger=quiet)  # fmt: skip
    test = task.data(ctx, "test")
    test_dls = inference_loaders(task, ctx, test, device)

    print(f"run {run} ({task.name}, {cfg.arch}, {cfg.size} px, {learn.precision.name}, {device}); "
          f"{len(built.valid_idx)} validation and {len(test)} test items")  # fmt: skip
    print(f"| --tta | passes | valid {task.metric_name} (post-processing fitted on it) "
          f"| test {task.metric_name} | test pass (s) | time vs first |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    first = None
    for setting in args.tta:
        spec = TTASpec.parse(setting)
        c = dataclasses.replace(ctx, cfg=dataclasses.replace(cfg, tta=spec.setting()))
        preds, *targets = predictions(task, c, learn)
        target = targets[0] if len(targets) == 1 else tuple(targets)
        post = task.fit_postprocess(c, preds, target)
        valid = task.score(c, preds, target, post)
        t = time.perf_counter()
        test_preds, *_ = predictions(task, c, learn, test_dls.valid)
        seconds = time.perf_counter() - t
        with tempfile.TemporaryDirectory() as tmp:
            sub = task.write(c, test, test_preds, post, Path(tmp) / "submission.csv")
            score = task.evaluate(pred=sub, **truth)
        first = first or seconds
        passes = spec.passes * len(spec.scales)
        print(f"| {spec} | {passes} | {valid:.4f} | {score:.4f} | {seconds:.1f} | {seconds / first:.2f} |",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
