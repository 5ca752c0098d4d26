# BEFORE: the classic "loop with a pickle checkpoint", as HPC centre guides show it.
#   python3 examples/python/pickle_loop_before.py [STEPS [EVERY [SAMPLES]]]
# Kill it and start it again: it continues from state.pkl. It works, mostly; what it gets wrong:
#   - pickle.dump writes state.pkl in place: a kill or a full disk during the dump leaves a torn
#     file, and the next start fails on it (or worse, loads half a state);
#   - pickle.load runs code from the file: never load a pickle you did not write yourself;
#   - nothing verifies the file; there is only one copy; nobody restarts the job after a crash;
#   - it does not react to a warning signal before a time limit, so the work since the last
#     dump is lost.
# loop_with_ckpt.py is the same computation written for `ckpt run`.
#
# The computation: estimate pi by throwing SAMPLES random points per step into the unit square.
import os
import pickle
import sys

n_steps = int(sys.argv[1]) if len(sys.argv) > 1 else 500
checkpoint_every = int(sys.argv[2]) if len(sys.argv) > 2 else 100
samples = int(sys.argv[3]) if len(sys.argv) > 3 else 5000

MASK = (1 << 64) - 1


def lcg(x):
    return (6364136223846793005 * x + 1442695040888963407) & MASK


# Try to load the checkpoint
if os.path.exists("state.pkl"):
    with open("state.pkl", "rb") as f:
        state = pickle.load(f)
    print("Resuming from step", state["step"])
else:
    state = {"step": 0, "rng": 2024, "inside": 0, "samples": 0}
    print("Starting from scratch")

for step in range(state["step"], n_steps):
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
    state["step"] = step + 1

    # Save a checkpoint every N steps
    if state["step"] % checkpoint_every == 0:
        with open("state.pkl", "wb") as f:
            pickle.dump(state, f)
        print("Checkpoint saved at step", state["step"])

pi = 4 * state["inside"] / state["samples"]
print(f"result: steps={state['step']} samples={state['samples']} inside={state['inside']} pi={pi:.10f}")
