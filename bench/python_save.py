"""Times Python's usual ways to save one array durably, for bench/store.mjs.

usage: python_save.py RAW_FILE OUT_DIR
RAW_FILE holds little-endian float64 values. Prints one JSON object: method -> ms, or a note.
Each save is followed by fsync, like ckpt's, so the comparison is of durable saves.
"""
import json
import os
import pickle
import sys
import time


def durable(path, write):
    start = time.perf_counter()
    with open(path, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    return (time.perf_counter() - start) * 1000


def main():
    raw, out = sys.argv[1], sys.argv[2]
    result = {}
    try:
        import numpy as np
    except ImportError:
        np = None
        result["note_numpy"] = "python3-numpy not installed"
    if np is not None:
        arr = np.fromfile(raw, dtype="<f8")
        result["pickle"] = durable(os.path.join(out, "a.pkl"),
                                   lambda f: pickle.dump(arr, f, protocol=pickle.HIGHEST_PROTOCOL))
        os.remove(os.path.join(out, "a.pkl"))
        result["numpy.save"] = durable(os.path.join(out, "a.npy"), lambda f: np.save(f, arr))
        os.remove(os.path.join(out, "a.npy"))
        try:
            import torch
            t = torch.from_numpy(arr)
            result["torch.save"] = durable(os.path.join(out, "a.pt"), lambda f: torch.save(t, f))
            os.remove(os.path.join(out, "a.pt"))
        except ImportError:
            result["note_torch"] = "python3-torch not installed"
    else:
        import array
        arr = array.array("d")
        with open(raw, "rb") as f:
            arr.frombytes(f.read())
        result["pickle"] = durable(os.path.join(out, "a.pkl"),
                                   lambda f: pickle.dump(arr, f, protocol=pickle.HIGHEST_PROTOCOL))
        os.remove(os.path.join(out, "a.pkl"))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
