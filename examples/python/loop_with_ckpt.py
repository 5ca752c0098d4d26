# AFTER: pickle_loop_before.py rewritten for ckpt. Same numbers; now it survives kills.
#   ckpt run -- python3 examples/python/loop_with_ckpt.py [STEPS [EVERY [SAMPLES]]]
#   ckpt run --every 10m -- python3 ...   # also checkpoint when ckpt asks (every 10 minutes)
# ckpt restarts it after a crash with the newest valid checkpoint's files in $CKPT_RESTORE; a
# torn or damaged checkpoint never reaches the program. What changed from the pickle version:
#   - the state is JSON (loading it runs no code), written atomically (tmp, fsync, rename);
#   - `ckpt commit` (via python/ckpt_job.py) stores a verified copy in the store;
#   - it checkpoints early when ckpt asks (time limit, `ckpt run --every`, Ctrl-C on ckpt);
#   - it exits 0 only when the work is done: anything else makes ckpt restart it.
import json
import os
import sys
from pathlib import Path

try:
    import ckpt_job
except ImportError:  # run from a checkout: the module is in python/ at the package root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
    import ckpt_job

n_steps = int(sys.argv[1]) if len(sys.argv) > 1 else 500
checkpoint_every = int(sys.argv[2]) if len(sys.argv) > 2 else 100
samples = int(sys.argv[3]) if len(sys.argv) > 3 else 5000

MASK = (1 << 64) - 1


def lcg(x):
    return (6364136223846793005 * x + 1442695040888963407) & MASK


restored = ckpt_job.restore_dir()
if restored and (restored / "state.json").exists():
    state = json.loads((restored / "state.json").read_text())
    print(f"loop_with_ckpt: pid {os.getpid()}, resumed at step {state['step']} "
          f"(restart {ckpt_job.restarts()})", flush=True)
else:
    state = {"step": 0, "rng": 2024, "inside": 0, "samples": 0}
    print(f"loop_with_ckpt: pid {os.getpid()}, fresh start", flush=True)

while state["step"] < n_steps:
    x = state["rng"]
    inside = 0
    for _ in range(samples):
        x = lcg(x)
        u = (x >> 11) / 9007199254740992.0
        x = lcg(x)
        v = (x >> 11) / 9007199254740992.0
        if u * u + v * v < 1.0:
            inside += 1
    state["rng"] = x
    state["inside"] += inside
    state["samples"] += samples
    state["step"] += 1

    if state["step"] % checkpoint_every == 0 or ckpt_job.checkpoint_requested():
        ckpt_job.atomic_write("state.json", json.dumps(state).encode())
        seq = ckpt_job.commit(state["step"], "state.json")
        print(f"loop_with_ckpt: step {state['step']} committed as #{seq}", flush=True)

pi = 4 * state["inside"] / state["samples"]
print(f"result: steps={state['step']} samples={state['samples']} inside={state['inside']} pi={pi:.10f}",
      flush=True)
