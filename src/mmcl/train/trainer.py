"""The one training loop: any method, any data, one process or many (torchrun).

AdamW with a warm-up + cosine schedule, gradient clipping, bf16 autocast where it is faster,
atomic checkpoints every N steps that hold the sampler position and RNG states (so `--resume`
ends on the same numbers as an uninterrupted run) and one more when SIGTERM or SIGUSR1 stops the
run (`mmcl.train.preemption`), metrics to `metrics.jsonl`, a progress bar.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from mmcl.config import differing_keys, from_dict, to_dict
from mmcl.data.batch import Batch
from mmcl.data.formats.bad_data import combined_state
from mmcl.data.sources import load_train_source
from mmcl.distributed import sync_batch_norm
from mmcl.errors import MMCLError
from mmcl.methods.base import Method, build_method, total_loss
from mmcl.train import checkpoint as ckpt
from mmcl.train.config import RunConfig, as_written
from mmcl.train.data import bad_data_log, data_info, epoch_batches, own_sampler, training_dataset
from mmcl.train.distributed import Runtime, gather_objects, teardown_runtime
from mmcl.train.metrics_log import MetricsLog, open_tracker
from mmcl.train.precision import autocast, resolve_precision
from mmcl.train.preemption import Preempted, StopSignals
from mmcl.train.sampler import ResumableBatchSampler
from mmcl.train.schedule import learning_rate
from mmcl.train.trackers import require_tracker

log = logging.getLogger(__name__)

T = TypeVar("T")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def param_groups(module: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Decay matrices and conv kernels only; biases, norms and scales keep weight decay off."""
    decay, no_decay = [], []
    for param in module.parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


class Trainer:
    """Holds a run's pieces; `fit()` trains to `train.steps` and returns the method.

    Drivers that train in stages (MCL) pass their own `method` (built from the config when
    None) and `batch_sampler` (any object with `__iter__`, `__len__` and
    `set_position(epoch, batch_in_epoch)`; the shuffled `ResumableBatchSampler` when None).
    """

    def __init__(
        self,
        cfg: RunConfig,
        run_dir: Path,
        runtime: Runtime,
        method: Method | None = None,
        batch_sampler: ResumableBatchSampler | None = None,
        evaluate: Callable[[Method], dict[str, float]] | None = None,
    ) -> None:
        self.cfg, self.run_dir, self.runtime = cfg, run_dir, runtime
        self.evaluate = evaluate  # scores logged every eval.every steps (rank 0 only)
        require_tracker(cfg.train.logger)  # before any step: the mirror's package is installed
        self.precision = resolve_precision(cfg.train.precision, runtime.device, runtime.world_size)
        self.resume_dir = run_dir  # the folder `--resume` continues (a stage driver: its run's)
        seed_everything(cfg.train.seed)  # same initial weights on every rank
        source = load_train_source(cfg.data)  # schema errors stop the run here
        info = data_info(cfg.data, source)
        self.spec = ckpt.model_spec(cfg, info, getattr(source, "class_names", []))
        if method is None:
            method = build_method(cfg.method, cfg.model, info)
        self.method: Method = method.to(runtime.device)
        if runtime.world_size > 1:  # BatchNorm on the global batch, as one process would
            self.method = sync_batch_norm(self.method, runtime.device)
        self.channels_last = cfg.model.channels_last
        if self.channels_last is None:
            self.channels_last = runtime.device.type == "cuda"
        if self.channels_last:
            self.method.to(memory_format=torch.channels_last)
        # The method may bring its own dataset (`Method.training_dataset`); the sampler below is
        # sized on it. A teacher it loads (resampled_simclr's index) draws from the global RNG
        # here, after the initial weights, where zhang2023's hand-built trainer drew it before.
        self.dataset = training_dataset(cfg, self.method, source, runtime)
        t = cfg.train
        self.optimizer = torch.optim.AdamW(
            param_groups(self.method, t.weight_decay),
            lr=t.lr,
            betas=tuple(t.betas),
            eps=t.eps,
            fused=True,  # one kernel per step: the unfused loop was ~40% of a small CLIP step
        )
        self.state = ckpt.TrainState()
        self._clock = 0.0  # perf_counter of the last `_tick`
        if own_sampler(self.dataset):  # a stream is its own sampler
            if batch_sampler is not None:
                raise MMCLError("a batch_sampler cannot drive data.format=webdataset (a stream)")
            batch_sampler = self.dataset
        self.sampler = batch_sampler or ResumableBatchSampler(
            len(self.dataset), t.batch_size, t.seed, runtime.rank, runtime.world_size
        )
        self.bad_data = bad_data_log(cfg.data, self.dataset)
        self.nonfinite_skipped = 0

    # ---- checkpoints -------------------------------------------------------------------
    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    def save(self) -> None:
        bad_data = gather_objects(self.bad_data.state_dict(), self.runtime)  # a collective
        if not self.runtime.is_main:
            return
        payload = {
            "method": self.method.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "state": self.state.__dict__,
            "rng": ckpt.rng_states(),
            "config": to_dict(self.cfg),
            "bad_data": bad_data,  # one tally per rank
            "precision": self.precision,  # what train.precision=auto chose, reused on resume
            "model_spec": self.spec,  # rebuilds the model without the training data
        }
        ckpt.save_checkpoint(
            self.checkpoint_dir, payload, self.state.step, self.cfg.train.keep_checkpoints
        )

    def resume(self) -> bool:
        found = ckpt.load_latest(self.checkpoint_dir)
        if found is None:
            return False
        path, payload = found
        # Read through today's dataclasses, so a key a newer mmcl added takes its default, or
        # the value the run was trained with where the default would change it (`as_written`).
        saved = to_dict(from_dict(type(self.cfg), as_written(payload["config"])))
        changes = differing_keys(saved, to_dict(self.cfg))
        if changes:
            raise MMCLError(
                f"{path} was written with a different config ({'; '.join(changes[:5])}); "
                f"resume with the run's own {self.run_dir / 'config.yaml'} "
                f"(mmcl train --resume {self.run_dir}), or undo the edit"
            )
        self.method.load_state_dict(payload["method"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.state = ckpt.TrainState(**payload["state"])
        ckpt.restore_rng_states(payload["rng"])
        self._restore_bad_data(payload.get("bad_data", []))
        self._restore_precision(payload.get("precision"))
        log.info("resumed from %s at step %d", path, self.state.step)
        return True

    def _restore_precision(self, saved: str | None) -> None:
        """Keep the precision `auto` chose when the run began: another machine may choose
        otherwise, and a silent switch mid-run changes the numbers. An explicit setting wins."""
        if saved is None or self.cfg.train.precision != "auto" or saved == self.precision:
            return
        log.info(
            "train.precision=auto: keeping the run's %s (this machine would pick %s)",
            saved,
            self.precision,
        )
        self.precision = saved

    def _restore_bad_data(self, states: list[dict]) -> None:
        """Each rank continues its own tally; with another world size rank 0 takes the sum."""
        if len(states) == self.runtime.world_size:
            self.bad_data.load_state_dict(states[self.runtime.rank])
        elif states and self.runtime.is_main:
            self.bad_data.load_state_dict(combined_state(states))

    # ---- the loop ----------------------------------------------------------------------
    def fit(self) -> Method:
        t, rt = self.cfg.train, self.runtime
        model = self.method
        if rt.world_size > 1:
            ids = [rt.device.index] if rt.device.type == "cuda" else None
            model = DistributedDataParallel(self.method, device_ids=ids)
        if t.compile:
            model = torch.compile(model)
        metrics = self._metrics_log() if rt.is_main else None
        bar = tqdm(
            total=t.steps,
            initial=self.state.step,
            disable=not (t.progress and rt.is_main),
            desc=self.cfg.name,
            dynamic_ncols=True,
        )
        stops = StopSignals()
        try:
            with stops.listening():
                self._loop(model, metrics, bar, stops)
        except Preempted:  # the checkpoint is written: close the logs as a finished run does
            self._close_logs(bar, metrics)
            raise
        self._close_logs(bar, metrics)
        if self.bad_data.bad and self.runtime.is_main:
            log.warning("%s: %s", self.bad_data.what, self.bad_data.summary())
        return self.method

    @staticmethod
    def _close_logs(bar: tqdm, metrics: MetricsLog | None) -> None:
        bar.close()
        if metrics is not None:
            metrics.close()

    def _loop(
        self, model: torch.nn.Module, metrics: MetricsLog | None, bar: tqdm, stops: StopSignals
    ) -> None:
        """Train to `train.steps`: log, evaluate and checkpoint on their schedules."""
        t = self.cfg.train
        window_start, window_samples = time.perf_counter(), 0
        self._clock = window_start
        while self.state.step < t.steps:
            for batch in self._epoch_loader():
                outputs = self._step(model, batch)
                window_samples += t.batch_size
                if self.state.step % t.log_every == 0 or self.state.step == t.steps:
                    self._tick()
                    rate = window_samples / (time.perf_counter() - window_start)
                    record = self._record(outputs, rate)
                    if metrics is not None:
                        self.writing(metrics.path, partial(metrics.log, record))
                    bar.set_postfix(loss=f"{record['loss']:.3f}", samples_s=f"{rate:.0f}")
                    window_start, window_samples = time.perf_counter(), 0
                bar.update(1)
                if metrics is not None and self._evaluation_due():
                    paused = time.perf_counter()
                    self.writing(metrics.path, partial(metrics.log, self._scores()))
                    window_start += time.perf_counter() - paused  # samples/s: training only
                    self._clock += time.perf_counter() - paused
                self._checkpoint(stops.agreed(self.runtime))  # every rank, every step
                if self.state.step >= t.steps:
                    break

    def _checkpoint(self, stop: int) -> None:
        """Save every `train.checkpoint_every` steps, after the last, and when every rank
        agreed to stop on signal `stop` (nonzero): then raise `Preempted` after the save."""
        step, t = self.state.step, self.cfg.train
        if stop or step % t.checkpoint_every == 0 or step == t.steps:
            self._tick()
            self.save()
        if stop:
            raise Preempted(stop, step, self.resume_dir)

    def _tick(self) -> None:
        """Add the wall time since the last tick to `state.train_seconds`."""
        now = time.perf_counter()
        self.state.train_seconds += now - self._clock
        self._clock = now

    def _evaluation_due(self) -> bool:
        every = self.cfg.eval.every
        return self.evaluate is not None and every > 0 and self.state.step % every == 0

    def _scores(self) -> dict:
        """The periodic scores at this step; the model goes back to training mode after."""
        scores = self.evaluate(self.method)
        self.method.train()
        return {"step": self.state.step, "epoch": self.state.epoch, **scores}

    def _metrics_log(self) -> MetricsLog:
        path = self.run_dir / "metrics.jsonl"
        tracker = open_tracker(self.cfg, self.run_dir, self.state.step)  # before the log is cut
        return self.writing(path, lambda: MetricsLog(path, self.state.step, tracker))

    def writing(self, path: Path, write: Callable[[], T]) -> T:
        """Run `write`; a failed write (disk full, read-only) becomes one line naming `path`
        and the run's last intact checkpoint."""
        try:
            return write()
        except OSError as error:
            last = ckpt.latest_checkpoint(self.checkpoint_dir)
            raise ckpt.write_error(path, error, last) from None

    def _epoch_loader(self) -> Iterator[Batch]:
        self.sampler.set_position(self.state.epoch, self.state.batch_in_epoch)
        return epoch_batches(
            self.dataset,
            self.sampler,
            self.cfg,
            self.state.epoch,
            self.runtime.device.type == "cuda",
            self.bad_data,
        )

    def _step(self, model: torch.nn.Module, batch) -> dict[str, torch.Tensor]:
        t, state = self.cfg.train, self.state
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(state.step, t.lr, t.warmup_steps, t.steps, t.min_lr_ratio)
        batch = batch.to(self.runtime.device, non_blocking=True)
        if self.channels_last:
            batch.images = batch.images.contiguous(memory_format=torch.channels_last)
        with autocast(self.precision, self.runtime.device):
            outputs = model(batch)
        loss = total_loss(outputs)
        self._advance(len(batch))
        if not torch.isfinite(loss):
            self._nonfinite(loss, batch)
            return {"loss": loss.detach(), **outputs}
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if t.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.method.parameters(), t.grad_clip)
        self.optimizer.step()
        self.method.after_optimizer_step()
        return {"loss": loss.detach(), **outputs}

    def _advance(self, local_batch: int) -> None:
        state = self.state
        state.step += 1
        state.batch_in_epoch += 1
        state.samples_seen += local_batch * self.runtime.world_size
        if state.batch_in_epoch >= len(self.sampler):
            state.epoch, state.batch_in_epoch = state.epoch + 1, 0

    def _nonfinite(self, loss: torch.Tensor, batch) -> None:
        where = f"step {self.state.step}, samples {batch.index[:8].tolist()}"
        if self.cfg.train.nonfinite == "stop":
            raise MMCLError(
                f"loss is {loss.item()} at {where}; lower train.lr, or set "
                f"train.nonfinite=skip to skip such batches"
            )
        self.nonfinite_skipped += 1
        log.warning("skipping non-finite loss %s at %s", loss.item(), where)

    def _record(self, outputs: dict[str, torch.Tensor], rate: float) -> dict:
        record = {
            "step": self.state.step,
            "epoch": self.state.epoch,
            "lr": self.optimizer.param_groups[0]["lr"],
            "samples_per_s": rate,
            "train_s": round(self.state.train_seconds, 2),
        }
        scalars = {k: v.detach().float().reshape(()) for k, v in outputs.items() if v.numel() == 1}
        if self.runtime.world_size > 1:  # log the mean over ranks, i.e. over the global batch
            stacked = torch.stack(list(scalars.values()))
            torch.distributed.all_reduce(stacked)
            scalars = dict(zip(scalars, stacked / self.runtime.world_size, strict=True))
        record.update({k: float(v) for k, v in scalars.items()})
        return record


__all__ = ["Trainer", "teardown_runtime"]
