"""Keras training under ``ckpt run --app tf`` (standard library + keras or tensorflow.keras).

Keras's own ``BackupAndRestore`` saves ``latest.weights.h5`` in place and then
``training_metadata.json``, with no temp file and no rename: a kill between the two pairs new
weights with the old epoch (an epoch trained twice, silently), and a kill inside either leaves a
torn file. ``ModelCheckpoint(save_best_only=True)`` forgets its best value when the job
restarts, so the first epoch after a restart overwrites the best model with a worse one.
:class:`CkptCommit` closes both: after each save of the callbacks before it, it commits their
files with ``ckpt commit`` (a verified checkpoint of a consistent pair, put back by ckpt before
a restart), keeps ``ModelCheckpoint.best`` in a small state file committed alongside, and
answers ckpt's checkpoint signal by saving, committing and ending the process with exit 75
(stopped with a checkpoint: ``ckpt run`` resumes it, ``ckpt sbatch`` requeues it).

Example::

    import keras, ckpt_keras

    backup = keras.callbacks.BackupAndRestore("backup", delete_checkpoint=False)
    best = keras.callbacks.ModelCheckpoint("best.weights.h5", monitor="val_loss",
                                           save_best_only=True, save_weights_only=True)
    model.fit(data, epochs=50, callbacks=[backup, best,
              ckpt_keras.CkptCommit(backup=backup, model_checkpoint=best)])   # last in the list

Run it with ``ckpt run --app tf -- python3 train.py``. CkptCommit must come **after** the
callbacks whose files it commits: Keras calls callbacks in list order, so their saves have
returned when it commits.

What a stop gives back (``stop=``):

- ``"now"`` (default): at the next batch end, the backup saves (Keras's own mid-epoch save),
  ckpt commits it, the process exits 75. Keras restores only the epoch, not the batch: the
  resumed run trains the interrupted epoch again from its start, beginning with the weights of
  the stop. The run continues validly but is not identical to an uninterrupted one.
- ``"epoch"``: the signal ends training at the end of the current epoch (saved and committed as
  every epoch is). A resume is then identical to an uninterrupted run, if the epoch ends within
  ckpt's ``--grace``.

Outside ``ckpt run`` nothing is committed and a stop is not possible; the callbacks before it
work as usual.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import ckpt_job

try:
    import keras
except ImportError:  # TensorFlow 2.x ships Keras as tensorflow.keras
    from tensorflow import keras  # type: ignore[no-redef]

__all__ = ["STATE_FILE", "STOP_EXIT", "CkptCommit"]

#: The file CkptCommit keeps its own state in (the global batch count, ModelCheckpoint's best).
STATE_FILE = "ckpt_keras_state.json"
#: The exit status after a stop with a checkpoint (EX_TEMPFAIL): run the same command again.
STOP_EXIT = 75


def _under_ckpt() -> bool:
    return bool(os.environ.get("CKPT_STORE"))


class CkptCommit(keras.callbacks.Callback):
    """Commits what the callbacks before it saved; see the module's documentation.

    ``backup``: the ``BackupAndRestore`` callback (its ``backup_dir`` is committed, its save is
    used on a stop). ``model_checkpoint``: a ``ModelCheckpoint`` whose ``best`` survives restarts
    and whose file is committed. ``paths``: more files to commit with each checkpoint.
    ``state_dir``: where :data:`STATE_FILE` goes (default: the backup directory, else ``.``).
    ``stop``: ``"now"`` or ``"epoch"`` (above).
    """

    def __init__(self, backup=None, model_checkpoint=None, paths=(), state_dir=None, stop="now"):
        super().__init__()
        if stop not in ("now", "epoch"):
            raise ValueError(f"CkptCommit(stop=...) must be 'now' or 'epoch', got {stop!r}")
        if backup is None and model_checkpoint is None and not paths:
            raise ValueError("CkptCommit needs something to commit: backup=, model_checkpoint= or paths=")
        self.backup = backup
        self.model_checkpoint = model_checkpoint
        self.paths = [Path(p) for p in paths]
        where = state_dir or (getattr(backup, "backup_dir", None) if backup is not None else None) or "."
        self.state_path = Path(where) / STATE_FILE
        self.stop = stop
        self.global_batch = 0
        self._stopping = False

    # -- Keras hooks -------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        state = self._read_state()
        self.global_batch = int(state.get("global_batch", 0))
        best = state.get("best")
        if self.model_checkpoint is not None and best is not None:
            self.model_checkpoint.best = float(best)

    def on_train_batch_end(self, batch, logs=None):
        self.global_batch += 1
        if not (_under_ckpt() and ckpt_job.checkpoint_requested()):
            return
        if self.stop == "epoch":
            self._stopping = True
            return
        save = getattr(self.backup, "_save_model", None)
        if callable(save):
            save()
        self._commit()
        # Not model.stop_training: Keras would still end the epoch, and BackupAndRestore would
        # then record it as complete. The process ends here, with the checkpoint committed.
        raise SystemExit(STOP_EXIT)

    def on_epoch_end(self, epoch, logs=None):
        self._commit()
        if self._stopping:
            raise SystemExit(STOP_EXIT)

    # -- helpers -----------------------------------------------------------------------------

    def _read_state(self) -> dict:
        try:
            return json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            raise RuntimeError(
                f"ckpt_keras: cannot read its state file {self.state_path}: {error}. It is written "
                "atomically, so this is not a torn write: remove it to start the count afresh."
            ) from error

    def _files(self) -> list[Path]:
        files: list[Path] = []
        backup_dir = getattr(self.backup, "backup_dir", None)
        if backup_dir is not None and Path(backup_dir).exists():
            files.append(Path(backup_dir))
        path = getattr(self.model_checkpoint, "filepath", None)
        if path is not None and Path(os.fspath(path)).exists():
            files.append(Path(os.fspath(path)))
        files += [p for p in self.paths if p.exists()]
        if self.state_path.exists() and not any(self.state_path.is_relative_to(f) for f in files):
            files.append(self.state_path)
        return files

    def _commit(self) -> None:
        best = getattr(self.model_checkpoint, "best", None)
        state = {
            "global_batch": self.global_batch,
            "best": None if best is None or (isinstance(best, float) and math.isinf(best)) else float(best),
        }
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        ckpt_job.atomic_write(self.state_path, json.dumps(state).encode())
        if _under_ckpt():
            ckpt_job.commit(self.global_batch, *self._files())
