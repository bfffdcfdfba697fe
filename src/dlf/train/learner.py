"""The Learner: a model, its data, a loss and an optimizer, and the training loop.

The loop reads top to bottom:

    fit -> epoch -> train (all batches) -> valid (all batches)
    batch -> pred -> loss -> backward -> step

Each stage is wrapped by `before_<stage>` / `after_<stage>` events that callbacks handle
(see `callbacks/core.py`), and the stages fit, epoch, train, valid, batch and step can be
cancelled with their named exceptions. Nothing here reads a value back from the device
(no `.item()`): callbacks that report numbers do so at their own intervals.

Under torchrun (a process group of several ranks, see dlf.core.dist) `fit` trains through
torch's DistributedDataParallel: each rank's loader reads its share, the backward pass
averages the gradients across ranks, and a step being accumulated skips that averaging
(`no_sync`) until its last batch. Validation and inference run on the plain model, each rank
on its share; the Recorder and `get_preds` combine the ranks' figures and predictions.
"""

import contextlib
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from dlf.core.dist import is_distributed, is_main_process, world_size
from dlf.core.errors import DlfError
from dlf.core.hardware import resolve_precision
from dlf.core.notebook import in_notebook
from dlf.data.loaders import DataLoaders, to_device
from dlf.train.callbacks.core import (
    CancelBatchException,
    CancelEpochException,
    CancelFitException,
    CancelStepException,
    CancelTrainException,
    CancelValidException,
    build_dispatch,
    stateful_callbacks,
)
from dlf.train.callbacks.gather import GatherPreds
from dlf.train.callbacks.progress import ProgressCallback
from dlf.train.callbacks.recorder import Recorder
from dlf.train.callbacks.schedule import ParamScheduler
from dlf.train.checkpoint import get_rng_state, load_checkpoint_state, restore_rng_state
from dlf.train.lr_find import LRFinder, Suggestions
from dlf.train.metrics import as_metric
from dlf.train.optim import default_opt_func, set_hyper
from dlf.train.schedule import flat_cos_lr, one_cycle_lr, one_cycle_mom
from dlf.train.tta import TTA

_CANCEL = {
    "fit": CancelFitException,
    "epoch": CancelEpochException,
    "train": CancelTrainException,
    "valid": CancelValidException,
    "batch": CancelBatchException,
    "step": CancelStepException,
}


def default_splitter(model: nn.Module) -> list[list[nn.Parameter]]:
    """The model's own `param_groups()` (stem to head) if it has one, else a single group."""
    if hasattr(model, "param_groups"):
        return [list(g) for g in model.param_groups()]
    return [list(model.parameters())]


def has_conv(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


@dataclass
class Resume:
    """Where a checkpoint left off: `iter` batches of epoch `epoch` were done."""

    epoch: int
    iter: int
    rng: dict
    epoch_rng: dict | None


class Learner:
    """Trains `model` on `dls` with `loss_func`; see the module docstring for the loop."""

    def __init__(
        self,
        model: nn.Module,
        dls: DataLoaders,
        loss_func: Callable,
        opt_func: Callable = default_opt_func,
        lr: float = 1e-3,
        metrics: Sequence = (),
        cbs: Sequence = (),
        precision: str = "auto",
        channels_last: bool | None = None,
        splitter: Callable = default_splitter,
        default_cbs: bool = True,
        train_bn: bool = True,
        logger: Callable[[str], None] = print,
        sync_bn: bool = False,
        compile: bool = False,
    ) -> None:
        """sync_bn: batch norm statistics over the global batch (all ranks) instead of each
        rank's share; only matters under torchrun, costs one collective per norm layer.
        compile: train through `torch.compile` (the first steps compile; validation and
        inference stay eager, so no second compile for the eval graphs)."""
        self.dls, self.loss_func, self.opt_func, self.lr = dls, loss_func, opt_func, lr
        self.device = dls.device
        self.precision = resolve_precision(precision, self.device)
        if (
            channels_last is None
        ):  # fp32 keeps the default layout so it matches a plain loop bit for bit
            channels_last = (
                self.precision.autocast and has_conv(model) and self.device.type != "mps"
            )
        self.channels_last = channels_last
        if sync_bn:
            if is_distributed() and self.device.type != "cuda":
                raise DlfError(
                    "--sync-bn: torch's SyncBatchNorm runs on CUDA GPUs only; "
                    "drop it for processes on the CPU"
                )
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        model = model.to(self.device)
        self.model = model.to(memory_format=torch.channels_last) if channels_last else model
        self.metrics = [as_metric(m) for m in metrics]
        self.splitter, self.train_bn, self.logger = splitter, train_bn, logger
        self.opt: torch.optim.Optimizer | None = None
        self.scaler = (
            torch.amp.GradScaler(self.device.type) if self.precision.needs_scaler else None
        )
        self.recorder = Recorder() if default_cbs else None
        self.cbs: list = [self.recorder, ProgressCallback()] if default_cbs else []
        self.cbs += list(cbs)
        self.training, self.epoch, self.iter, self.n_epochs = False, 0, 0, 0
        self.epoch_rng: dict | None = None
        self.loss = self.pred = None
        self.inferring = False  # True during get_preds: no loss, no Recorder
        self.data_wait = 0.0
        self._resume: Resume | None = None
        self.ddp: DistributedDataParallel | None = None  # the model as trained under torchrun
        self.compile = compile
        self._train_net: nn.Module | None = None  # what a training step calls
        self._train_target: nn.Module | None = None  # what it was made from
        self.sync_grads = True  # False: this batch's gradients are accumulated, not averaged yet
        self.valid_sharded = False  # each rank validates its share: results are combined
        self.log(
            f"device {self.device}, precision {self.precision.name}"
            + (" autocast" if self.precision.autocast else "")
            + (", channels_last" if self.channels_last else "")
        )

    # ---------------------------------------------------------------- small helpers
    def log(self, msg: str) -> None:
        if self.is_main:  # one process speaks for all under torchrun
            self.logger(msg)

    def cb(self, kind: type):
        """The first callback of type `kind`, or None."""
        return next((c for c in self.cbs if isinstance(c, kind)), None)

    @property
    def is_main(self) -> bool:
        """True in the process that writes files and prints (rank 0 under torchrun); every
        writer (CSVLogger, Checkpoint, the progress bar, the task driver) asks this."""
        return is_main_process()

    @property
    def world_size(self) -> int:
        return world_size()

    def autocast(self):
        if not self.precision.autocast:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.precision.autocast_dtype)

    def _event(self, name: str) -> None:
        for f in self._dispatch[name]:
            f(self)

    def _with(self, stage: str, body: Callable[[], None]) -> None:
        try:
            self._event(f"before_{stage}")
            body()
            self._event(f"after_{stage}")
        except _CANCEL[stage]:
            self._event(f"after_cancel_{stage}")

    # ---------------------------------------------------------------- parameters
    def param_groups(self) -> list[list[nn.Parameter]]:
        return self.splitter(self.model)

    def create_opt(self) -> None:
        groups = [{"params": g} for g in self.param_groups()]
        self.opt = self.opt_func(groups, self.lr)

    def lr_per_group(self, lr: float | slice) -> list[float]:
        """A float for every group, or fastai's slice: slice(hi) gives hi/10 to all but the
        head; slice(lo, hi) spaces the groups geometrically from lo to hi."""
        n = len(self.param_groups())
        if not isinstance(lr, slice):
            return [float(lr)] * n
        if lr.start is None:
            return [lr.stop / 10] * (n - 1) + [lr.stop]
        if n == 1:
            return [lr.stop]
        step = (lr.stop / lr.start) ** (1 / (n - 1))
        return [lr.start * step**i for i in range(n)]

    def freeze_to(self, n: int) -> None:
        """Train only the groups from `n` on (norm layers keep training if `train_bn`)."""
        groups = self.param_groups()
        norm_params = set()
        if self.train_bn:
            for m in self.model.modules():
                if isinstance(m, nn.modules.batchnorm._NormBase | nn.GroupNorm | nn.LayerNorm):
                    norm_params.update(id(p) for p in m.parameters(recurse=False))
        for i, g in enumerate(groups):
            frozen = i < (n % len(groups) if n < 0 else n)
            for p in g:
                p.requires_grad_(not frozen or id(p) in norm_params)

    def freeze(self) -> None:
        self.freeze_to(-1)

    def unfreeze(self) -> None:
        self.freeze_to(0)

    # ---------------------------------------------------------------- the loop
    def fit(self, n_epochs: int, lr: float | slice | None = None, cbs: Sequence = ()) -> None:
        """Train for `n_epochs` at a constant `lr` (plus whatever schedule `cbs` bring)."""
        if self.opt is None:
            self.create_opt()
        if lr is not None:
            set_hyper(self.opt, "lr", self.lr_per_group(lr))
        self._fit(n_epochs, [*self.cbs, *cbs])

    def _fit(self, n_epochs: int, cbs: Iterable) -> None:
        if len(self.dls.train) == 0:  # else every epoch "trains" on nothing and logs a loss of 0
            raise DlfError(
                f"the training loader gives no batch ({_describe(self.dls.train)}); "
                "lower the batch size or add training items"
            )
        self.n_epochs = n_epochs
        if is_distributed() and self.ddp is None:
            # DDP copies rank 0's weights to every rank here, then averages gradients
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp = DistributedDataParallel(self.model, device_ids=ids)
            inner = getattr(self.dls.train, "loader", self.dls.train)
            if not getattr(inner, "shards_by_rank", False):
                self.log(f"note: the training loader ({type(inner).__name__}) does not read a "
                         "share per rank: every rank trains on every batch (correct, not faster)")  # fmt: skip
        target = self.ddp or self.model
        if self._train_target is not target:  # compiled once per model (and DDP wrap)
            self._train_target = target
            self._train_net = torch.compile(target) if self.compile else target
        self._dispatch = build_dispatch([c for c in cbs if c is not None])
        resume, self._resume = self._resume, None
        start = 0
        if resume is not None:
            start = resume.epoch
            if resume.iter == 0:
                restore_rng_state(resume.rng)
        self._skip = resume
        self._with("fit", lambda: self._do_fit(start))

    def _do_fit(self, start_epoch: int) -> None:
        for epoch in range(start_epoch, self.n_epochs):
            self.epoch = epoch
            self._with("epoch", self._do_epoch)

    def _do_epoch(self) -> None:
        self.training, self.dl = True, self.dls.train
        self.model.train()
        self._with("train", self._all_batches)
        if self.dls.valid is not None:
            self._validate(self.dls.valid)

    def _validate(self, dl) -> None:
        self.training, self.dl = False, dl
        inner = getattr(dl, "loader", dl)
        self.valid_sharded = is_distributed() and bool(getattr(inner, "shards_by_rank", False))
        self.model.eval()
        # Validation must not change training: its loader would otherwise draw from the RNG
        # that orders the next epoch, so whether you validate would change the trajectory.
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            self._with("valid", self._all_batches)

    def _all_batches(self) -> None:
        self.n_iter, self.iter, self.data_wait = len(self.dl), 0, 0.0
        skip = self._skip if self.training else None
        if skip is not None:
            self._skip = None
            restore_rng_state(skip.epoch_rng)  # the data order of the interrupted epoch
        if self.training:
            self.epoch_rng = get_rng_state()  # fixes this epoch's data order, for checkpoints
        it = iter(self.dl)
        if skip is not None:
            for _ in range(skip.iter):
                next(it)
            self.iter = skip.iter
            restore_rng_state(skip.rng)
        while True:
            t = perf_counter()
            batch = next(it, None)
            self.data_wait += perf_counter() - t
            if batch is None:
                break
            self.batch, self.sync_grads = batch, True
            self._with("batch", self._do_batch)
            self.iter += 1

    def _do_batch(self) -> None:
        self.xb, self.yb = self.dls.split(self.batch)
        # DDP decides in the forward pass whether the backward averages gradients
        ddp = self.ddp if self.training else None  # validation: the plain model, no collectives
        no_sync = ddp is not None and not self.sync_grads
        net = self._train_net if self.training and self._train_net is not None else self.model
        with ddp.no_sync() if no_sync else contextlib.nullcontext():
            self._forward_backward(net)

    def _forward_backward(self, net: nn.Module) -> None:
        with self.autocast():
            self._event("before_pred")
            self.pred = net(*self.xb)
            self._event("after_pred")
            if not self.yb or self.inferring:  # get_preds, or unlabelled data
                self.loss = None
                return
            self._event("before_loss")
            self.loss = self.loss_grad = self.loss_func(self.pred, *self.yb)
            self._event("after_loss")
        if not self.training:
            return
        self._event("before_backward")
        (self.scaler.scale(self.loss_grad) if self.scaler else self.loss_grad).backward()
        self._event("after_backward")
        self._with("step", self._do_step)

    def _do_step(self) -> None:
        if self.scaler is not None:
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            self.opt.step()
        self.opt.zero_grad(set_to_none=True)

    def unscale_grads(self) -> None:
        """Bring fp16-scaled gradients back to their true size (before clipping them)."""
        if self.scaler is not None:
            self.scaler.unscale_(self.opt)

    # ---------------------------------------------------------------- schedules
    def fit_one_cycle(
        self,
        n_epochs: int,
        lr_max: float | slice | None = None,
        div: float = 25.0,
        div_final: float = 1e5,
        pct_start: float = 0.25,
        moms: tuple[float, float, float] = (0.95, 0.85, 0.95),
        cbs: Sequence = (),
        lr_schedule: Callable[
            [float, float, float, float], Callable[[float], float]
        ] = one_cycle_lr,
    ) -> None:
        """Leslie Smith's one-cycle policy with fastai's defaults. `lr_schedule` builds the
        learning-rate curve from (lr_max, div, div_final, pct_start): a member's own one-cycle
        function can take the place of dlf's (`dlf train --use`)."""
        lrs = self.lr_per_group(self.lr if lr_max is None else lr_max)
        scheds = {"lr": [lr_schedule(lr, div, div_final, pct_start) for lr in lrs]}
        if self.opt is None:
            self.create_opt()
        if any("betas" in g or "momentum" in g for g in self.opt.param_groups):
            scheds["mom"] = one_cycle_mom(moms, pct_start)  # optimizers without momentum skip it
        sched = ParamScheduler(scheds)
        self.fit(n_epochs, cbs=[sched, *cbs])

    def fit_flat_cos(
        self,
        n_epochs: int,
        lr: float | slice | None = None,
        pct_start: float = 0.75,
        div_final: float = 1e5,
        cbs: Sequence = (),
    ) -> None:
        """Flat learning rate, then cosine annealing (good with RAdam/Lookahead)."""
        lrs = self.lr_per_group(self.lr if lr is None else lr)
        sched = ParamScheduler({"lr": [flat_cos_lr(lr, pct_start, div_final) for lr in lrs]})
        self.fit(n_epochs, cbs=[sched, *cbs])

    def fine_tune(
        self,
        epochs: int,
        base_lr: float = 2e-3,
        freeze_epochs: int = 1,
        lr_mult: float = 100,
        pct_start: float = 0.3,
        div: float = 5.0,
        cbs: Sequence = (),
    ) -> None:
        """fastai's transfer-learning recipe: train the head frozen, then all with
        discriminative learning rates (the stem gets base_lr/lr_mult)."""
        self.freeze()
        self.fit_one_cycle(freeze_epochs, slice(base_lr), pct_start=0.99, cbs=cbs)
        base_lr /= 2
        self.unfreeze()
        self.fit_one_cycle(
            epochs, slice(base_lr / lr_mult, base_lr), pct_start=pct_start, div=div, cbs=cbs
        )

    def lr_find(
        self,
        start_lr: float = 1e-7,
        end_lr: float = 10.0,
        num_it: int = 100,
        stop_div: bool = True,
        show_plot: bool | None = None,
    ) -> Suggestions:
        """Sweep the learning rate exponentially and return fastai's suggestions (valley,
        steep, minimum), also logged in one line; see `dlf.train.lr_find`.

        `show_plot` draws loss against lr (kept as `self.lr_finder.figure`); by default it
        does so only inside a Jupyter kernel, where the figure shows inline. The sweep leaves
        weights, optimizer, random state and the recorded history as they were."""
        if self.opt is None:
            self.create_opt()
        progress = self.cb(ProgressCallback)
        finder = LRFinder(
            start_lr, end_lr, num_it, stop_div, bar=progress is not None and progress.bar
        )
        n_epochs = math.ceil(num_it / max(1, len(self.dls.train)))
        # The finder alone: the Recorder, CSVLogger and progress lines would record or print
        # the sweep as if it were training (the finder draws its own bar).
        try:
            self._fit(n_epochs, [finder])
        finally:
            finder.restore(self)  # also after Ctrl-C or an error mid-sweep
        self.lr_finder = finder
        sug = finder.suggestions()
        self.log(f"lr_find: {sug}")
        if show_plot or (show_plot is None and in_notebook()):
            finder.plot(sug)
        return sug

    # ---------------------------------------------------------------- inference
    def _run_valid(self, dl, cbs: Sequence = (), inference: bool = False) -> None:
        own = [c for c in self.cbs if c is not None]
        if inference:  # the Recorder's epoch figures are not touched by an inference pass
            own = [c for c in own if not isinstance(c, Recorder)]
        self._dispatch = build_dispatch([*own, *cbs])
        self.inferring = inference
        try:
            self._validate(dl)
        finally:
            self.inferring = False

    def validate(self, dl=None) -> dict[str, float]:
        """Loss and metrics on `dl` (default: the validation set)."""
        if self.recorder is None:
            raise DlfError(
                "validate() needs the Recorder (create the Learner with default_cbs=True)"
            )
        self._run_valid(dl if dl is not None else self.dls.valid)
        return dict(self.recorder.last_valid)

    def get_preds(
        self,
        dl=None,
        act: Callable | None = None,
        with_input: bool = False,
        tta: int = 1,
        dense: bool = False,
        decode: Callable | None = None,
        merge=None,
    ) -> tuple:
        """The one inference loop: predictions for every item of `dl` (default: the
        validation set), in order, under the learner's precision, and targets when the
        loader has them (on the CPU).

        act: applied to each output (softmax, sigmoid) before TTA averages them.
        tta: how many symmetries of the square to average (see dlf.train.tta); dense: the
          outputs are maps, mapped back before averaging; merge: a `TTAMerge` that maps each
          pass back and combines them instead of averaging (boxes).
        decode: each batch's (activated, averaged) output -> a list of per-item results
          (NMS boxes, top-k segments); the predictions then come back as one list.
        No loss is computed and the Recorder's figures are left as they were."""
        gather = GatherPreds(with_input=with_input, decode=decode)
        plain = tta == 1 and act is None and merge is None
        cbs = [gather] if plain else [TTA(tta, dense, act, merge), gather]
        self._run_valid(dl if dl is not None else self.dls.valid, cbs, inference=True)
        return gather.result()

    def predict(self, item):
        """Predict one raw item (a file, a row, or an input tensor).

        Items go through the DataBlock's encoding when the loaders have one; with a vocab the
        answer is decoded to (label, index, probabilities), else the raw output is returned."""
        if self.dls.datasets is not None:
            xb = self.dls.test_batch([item])[: self.dls.n_inp]
        else:
            xb = (to_device(torch.as_tensor(item)[None], self.device),)
            for tfm in self.dls.valid_tfms:
                xb = tfm(xb)
        self.model.eval()
        with torch.no_grad(), self.autocast():
            out = self.model(*xb)[0].float().cpu()
        if self.dls.vocab is None:
            return out
        probs = out.softmax(-1)
        idx = int(probs.argmax())
        return self.dls.vocab[idx], idx, probs

    # ---------------------------------------------------------------- saving
    def save(self, path: str | Path) -> Path:
        """Weights only, as safetensors (safe to share: loading runs no code)."""
        from dlf.train.checkpoint import save_weights

        return save_weights(self.model, path)

    def load(self, path: str | Path, strict: bool = True) -> "Learner":
        from dlf.train.checkpoint import load_weights

        load_weights(self.model, path, strict=strict)
        return self

    def load_checkpoint(self, path: str | Path) -> Resume:
        """Restore a resumable checkpoint; the next `fit*` call continues where it stopped."""
        if self.opt is None:
            self.create_opt()
        state = load_checkpoint_state(path)
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        grads = state.get("grads", {})
        for k, p in self.model.named_parameters():
            p.grad = grads[k].to(p.device) if k in grads else None
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        by_name = stateful_callbacks(self.cbs)
        for name, cb_state in state.get("callbacks", {}).items():
            if name in by_name:
                by_name[name].load_state_dict(cb_state)
        epoch, it, epoch_rng = state["epoch"], state["iter"], state.get("epoch_rng")
        saved_world = state.get("world_size", 1)
        if 0 < it < state["n_iter"] and saved_world != self.world_size:
            # batches done count per-rank batches: with another number of ranks they would
            # cover other rows of the epoch
            raise DlfError(
                f"{path}: saved mid-epoch by {saved_world} process(es); resume it with "
                f"{saved_world} (a checkpoint from an epoch end resumes with any number)"
            )
        if it >= state["n_iter"]:
            # Saved at the end of an epoch: the next one starts from the RNG state saved then.
            # Its own epoch_rng belongs to the epoch that ended; handed on, the next epoch's
            # checkpoints would record it and a resume from them would redraw the old order.
            epoch, it, epoch_rng = epoch + 1, 0, state["rng"]
        self._resume = Resume(epoch, it, state["rng"], epoch_rng)
        return self._resume

    def __repr__(self) -> str:
        return (
            f"Learner({type(self.model).__name__}, {self.dls!r}, loss={getattr(self.loss_func, '__name__', self.loss_func)}, "
            f"precision={self.precision.name})"
        )


def _describe(dl) -> str:
    """'16 items, batch size 32', as far as the loader (or the one it wraps) says."""
    inner = getattr(dl, "loader", dl)
    n = "?"
    for attr in ("indices", "dataset"):
        with contextlib.suppress(AttributeError, TypeError):
            n = str(len(getattr(inner, attr)))
            break
    bs = getattr(inner, "bs", None) or getattr(inner, "batch_size", "?")
    return f"{n} items, batch size {bs}"
