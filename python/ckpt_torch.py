"""Checkpoint and resume a PyTorch training loop under ``ckpt run`` (standard library + torch;
numpy is used when installed).

A resumed run continues **bitwise identically** to an uninterrupted one only if everything that
decides the next step is restored: the model, the optimizer and the LR scheduler, **and** the
torch, numpy and Python random number generators (dropout, augmentation, sampling), **and** the
order of the data. :func:`save` stores all of these in one file, written atomically and then
committed as a checkpoint with ``ckpt commit`` (through :mod:`ckpt_job`); :func:`load` puts them
all back. The data order is yours to make reproducible: give the ``DataLoader`` its own
``torch.Generator``, seed it from the epoch number at the start of each epoch, save the position
(epoch, batch) with the checkpoint, and on resume skip the batches already done. (Checkpointing
only at epoch boundaries, you may instead pass the generator to :func:`save` / :func:`load`.)

Example::

    import torch
    import ckpt_torch

    gen = torch.Generator()
    loader = torch.utils.data.DataLoader(data, batch_size=32, shuffle=True, generator=gen)
    model, opt = Net(), torch.optim.SGD(...)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=100)

    step, epoch, skip = 0, 0, 0
    resumed = ckpt_torch.load(model, opt, sched)          # None on a fresh start
    if resumed:
        step, _extra, (epoch, skip) = resumed              # batches already done this epoch

    while epoch < EPOCHS:
        gen.manual_seed(SEED + epoch)                      # this epoch's order: from the epoch alone
        for batch, (x, y) in enumerate(loader):
            if batch < skip:
                continue                                   # done before the interruption
            train_step(model, opt, x, y)
            sched.step()
            step += 1
            if step % 200 == 0 or ckpt_torch.requested():   # requested: ckpt asked (SIGUSR2)
                ckpt_torch.save(step, model, opt, sched, data_position=(epoch, batch + 1))
        epoch, skip = epoch + 1, 0

    torch.save(model.state_dict(), "final.pt")             # exit 0 only when training is complete

Run it with ``ckpt run --app pytorch -- /usr/bin/python3 train.py`` (the adapter puts this
module on ``PYTHONPATH``). After a stop (exit 75) run the same command again; after a crash ckpt
restarts the script itself. Outside ``ckpt run`` the functions still work: :func:`save` only
writes the file, and :func:`load` resumes from it if it exists.

Two things to know:

- Two ``.pt`` files holding equal tensors are usually not equal byte for byte (pickling
  differs): compare checkpoints and results with ``torch.equal``, not with file checksums.
- Without the RNG states a resumed run drifts at once (dropout draws other masks): always save
  through this module, or save ``rng_state()`` yourself.
"""

from __future__ import annotations

import io
import os
import random
from pathlib import Path
from typing import Any

import torch

import ckpt_job

try:  # numpy is optional: its RNG is saved only if it is installed
    import numpy
except ImportError:  # pragma: no cover - depends on the installation
    numpy = None

__all__ = ["DEFAULT_PATH", "load", "requested", "rng_state", "save", "set_rng_state"]

DEFAULT_PATH = "ckpt_torch.pt"
_FORMAT = 1


def requested() -> bool:
    """True once ckpt asked for a checkpoint (the signal in ``$CKPT_SIGNAL``, SIGUSR2 by
    default); :func:`save` clears it."""
    return ckpt_job.checkpoint_requested()


def rng_state(generator: torch.Generator | None = None) -> dict[str, Any]:
    """The states of every random number generator a training step may draw from."""
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
    }
    if numpy is not None:
        state["numpy"] = numpy.random.get_state()
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if generator is not None:
        state["generator"] = generator.get_state()
    return state


def set_rng_state(state: dict[str, Any], generator: torch.Generator | None = None) -> None:
    """Puts back the states :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if numpy is not None and "numpy" in state:
        numpy.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if generator is not None:
        if "generator" not in state:
            raise ValueError("the checkpoint holds no generator state (save() was called without generator=)")
        generator.set_state(state["generator"])


def _under_ckpt() -> bool:
    return bool(os.environ.get("CKPT_STORE"))


def save(
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    extra: Any = None,
    data_position: Any = None,
    path: str | os.PathLike = DEFAULT_PATH,
    generator: torch.Generator | None = None,
    commit: bool | None = None,
) -> int | None:
    """Saves a complete training state at ``step`` and commits it as a checkpoint.

    Stores the state_dicts of ``model``, ``optimizer`` and ``scheduler``, the torch, numpy and
    Python RNG states (and ``generator``'s, e.g. the DataLoader's, if given), ``extra`` (anything
    picklable) and ``data_position`` (where in the data the next step starts, e.g.
    ``(epoch, batch)``). The file (``path``, relative to the working directory) is written
    atomically: a temp file, fsync, rename, fsync of the directory. Under ``ckpt run`` (or with
    ``commit=True``) it is then committed with ``ckpt commit --step step``; returns the
    checkpoint's number, or None when not committed.
    """
    state = {
        "format": _FORMAT,
        "step": step,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": rng_state(generator),
        "extra": extra,
        "data_position": data_position,
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    ckpt_job.atomic_write(path, buffer.getvalue())
    if commit is None:
        commit = _under_ckpt()
    return ckpt_job.commit(step, path) if commit else None


def _checkpoint_file(path: str | os.PathLike) -> Path | None:
    restored = ckpt_job.restore_dir()
    if restored is not None:
        candidate = Path(path) if Path(path).is_absolute() else restored / path
        return candidate if candidate.exists() else None
    if _under_ckpt():
        # A fresh start under ckpt: a file left in the directory is not a checkpoint of this job.
        return None
    return Path(path) if Path(path).exists() else None


def load(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    path: str | os.PathLike = DEFAULT_PATH,
    generator: torch.Generator | None = None,
    map_location: Any = "cpu",
) -> tuple[int, Any, Any] | None:
    """Restores what :func:`save` stored into ``model``, ``optimizer``, ``scheduler`` (and
    ``generator``), sets every RNG state back, and returns ``(step, extra, data_position)``;
    None on a fresh start (nothing to resume).

    Under ``ckpt run`` the file is read from ``$CKPT_RESTORE`` (:func:`ckpt_job.restore_dir`)
    when ckpt is resuming, and a fresh start ignores any file left in the working directory.
    Outside ckpt it resumes from ``path`` if that exists. Call it after building the model,
    optimizer and scheduler and before drawing any random number for training.
    """
    file = _checkpoint_file(path)
    if file is None:
        return None
    # The RNG states and `extra` are Python objects, not just tensors: a full (trusted) unpickle.
    try:
        state = torch.load(file, map_location=map_location, weights_only=False)
    except TypeError:  # torch < 1.13 has no weights_only
        state = torch.load(file, map_location=map_location)
    if state.get("format") != _FORMAT:
        raise ValueError(f"{file} is not a ckpt_torch checkpoint (format {state.get('format')!r})")
    model.load_state_dict(state["model"])
    if optimizer is not None:
        if state["optimizer"] is None:
            raise ValueError(f"{file} holds no optimizer state (save() was called without optimizer)")
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        if state["scheduler"] is None:
            raise ValueError(f"{file} holds no scheduler state (save() was called without scheduler)")
        scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"], generator)
    return state["step"], state["extra"], state["data_position"]
