"""Helpers for Python programs run under ``ckpt run`` (standard library only).

``ckpt run`` tells the program it supervises where to resume from through environment
variables (docs/protocol.md); this module reads them, notices the checkpoint signal, and
commits files with the ``ckpt commit`` command. It never writes to the store itself.

Example: a loop that keeps its state in ``state.json`` and survives kills::

    import json
    import ckpt_job

    state = {"step": 0, "total": 0}
    restored = ckpt_job.restore_dir()            # None on a fresh start
    if restored and (restored / "state.json").exists():
        state = json.loads((restored / "state.json").read_text())

    while state["step"] < 10_000:
        state["total"] += work(state["step"])
        state["step"] += 1
        if state["step"] % 500 == 0 or ckpt_job.checkpoint_requested():
            ckpt_job.atomic_write("state.json", json.dumps(state).encode())
            ckpt_job.commit(state["step"], "state.json")

    print(state["total"])   # exit 0 only when the work is complete

Run it with ``ckpt run -- python3 loop.py`` (or ``ckpt run --every 10m -- ...`` to be asked for
a checkpoint every ten minutes). After a crash ckpt puts the files of the newest valid
checkpoint back and starts the program again with ``CKPT_RESTORE`` pointing at them.

The ``ckpt`` command is taken from ``$CKPT_BIN`` if set, else from ``PATH``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

__all__ = [
    "CkptNotFoundError",
    "atomic_write",
    "checkpoint_requested",
    "commit",
    "deadline",
    "install",
    "restarts",
    "restore_dir",
    "restored_step",
]

_requested = False
_installed: set = set()


class CkptNotFoundError(RuntimeError):
    """The ``ckpt`` command cannot be found."""


def restore_dir() -> Path | None:
    """The directory holding the checkpoint to resume from (``$CKPT_RESTORE``), or None on a fresh start."""
    value = os.environ.get("CKPT_RESTORE")
    return Path(value) if value else None


def restored_step() -> int | float | None:
    """The step of the checkpoint being resumed (``$CKPT_STEP``), or None on a fresh start."""
    value = os.environ.get("CKPT_STEP")
    return _number(value) if value else None


def restarts() -> int:
    """How many times ``ckpt run`` has restarted this job (``$CKPT_RESTARTS``; 0 when not under ckpt)."""
    return int(os.environ.get("CKPT_RESTARTS") or 0)


def deadline() -> float | None:
    """The Unix time by which the program must have checkpointed and exited (``$CKPT_DEADLINE``), if known."""
    value = os.environ.get("CKPT_DEADLINE")
    return float(value) if value else None


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


def _signal_number(name: str) -> signal.Signals:
    name = name.upper()
    signum = getattr(signal, name if name.startswith("SIG") else "SIG" + name, None)
    if not isinstance(signum, signal.Signals):
        raise ValueError(f"not a signal name Python knows: {name!r} (from CKPT_SIGNAL?)")
    return signum


def _on_signal(previous):
    def handler(signum, frame):
        global _requested
        _requested = True
        if callable(previous):
            previous(signum, frame)

    return handler


def install(name: str | None = None) -> bool:
    """Listens for the checkpoint signal (``name``, default ``$CKPT_SIGNAL``). Done on import;
    call it yourself from the main thread if importing happened elsewhere. Returns whether a
    handler is installed."""
    name = name or os.environ.get("CKPT_SIGNAL")
    if not name:
        return False
    signum = _signal_number(name)
    if signum in _installed:
        return True
    try:
        signal.signal(signum, _on_signal(signal.getsignal(signum)))
    except ValueError:  # not the main thread
        return False
    _installed.add(signum)
    return True


def checkpoint_requested() -> bool:
    """True once the checkpoint signal arrived; :func:`commit` clears it."""
    return _requested


def _ckpt_command() -> list[str]:
    explicit = os.environ.get("CKPT_BIN")
    if explicit:
        return [explicit]
    found = shutil.which("ckpt")
    if not found:
        raise CkptNotFoundError(
            "ckpt_job.commit needs the `ckpt` command, and it is not on PATH. Install it with "
            "`npm install -g ckpt` (Node.js >= 20), or set CKPT_BIN to its path."
        )
    return [found]


def commit(step: int | float, *paths: str | os.PathLike, meta: dict | None = None) -> int:
    """Commits ``paths`` (files or directories, relative to the working directory) as a
    checkpoint at ``step`` by running ``ckpt commit``; returns the checkpoint's number.
    Write the files completely first (see :func:`atomic_write`). Raises RuntimeError if the
    commit fails, naming ckpt's message."""
    global _requested
    if not paths:
        raise ValueError("ckpt_job.commit needs at least one path to commit")
    _requested = False
    args = [*_ckpt_command(), "commit", "--json", "--step", str(_number(str(step)))]
    for key, value in (meta or {}).items():
        args += ["--meta", f"{key}={value}"]
    args += ["--", *(os.fspath(p) for p in paths)]
    ckpt_signal = os.environ.get("CKPT_SIGNAL")
    for _ in range(5):
        try:
            done = subprocess.run(args, capture_output=True, text=True)
        except OSError as error:
            raise CkptNotFoundError(f"cannot run {args[0]!r} (from CKPT_BIN or PATH): {error}") from error
        # `ckpt commit` runs in the job's process group: a checkpoint signal sent to ckpt by hand
        # is forwarded to the whole group and kills it, and SLURM's SIGTERM at a preemption
        # reaches every process of the job. Commit again then (within the grace period).
        killed_by = {-signal.SIGTERM} | ({-_signal_number(ckpt_signal)} if ckpt_signal else set())
        if done.returncode not in killed_by:
            break
    if done.returncode != 0:
        raise RuntimeError(
            f"`ckpt commit --step {step}` failed (exit {done.returncode}): {done.stderr.strip()}"
        )
    return int(json.loads(done.stdout)["seq"])


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Writes ``data`` to ``path`` so that readers see the old file or the new one, never a
    torn one: temp file, fsync, rename, fsync of the directory. The temp name ends in ``.tmp``,
    which ``ckpt run --capture`` never captures."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


install()
