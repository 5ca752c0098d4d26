"""Python's usual durable saves of one array, timed on request, for bench/store.mjs.

usage: python_save.py RAW_FILE OUT_DIR
Loads RAW_FILE (little-endian float64) once, prints "ready" and the methods it can run, then reads
one method name per line from stdin, saves the array that way (followed by fsync, like ckpt's saves),
deletes the file and prints the milliseconds. The benchmark interleaves these with ckpt's own saves,
so both sides see the same disk at the same time.
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
    ms = (time.perf_counter() - start) * 1000
    os.remove(path)
    return ms


def main():
    raw, out = sys.argv[1], sys.argv[2]
    methods = {}
    notes = {}
    try:
        import numpy as np
        arr = np.fromfile(raw, dtype="<f8")
        methods["numpy.save"] = lambda f: np.save(f, arr)
        methods["pickle"] = lambda f: pickle.dump(arr, f, protocol=5)
        try:
            import torch
            t = torch.from_numpy(arr)
            methods["torch.save"] = lambda f: torch.save(t, f)
        except ImportError:
            notes["torch.save"] = "python3-torch not installed"
    except ImportError:
        notes["numpy.save"] = notes["torch.save"] = "python3-numpy not installed"
        import array
        arr = array.array("d")
        with open(raw, "rb") as f:
            arr.frombytes(f.read())
        methods["pickle"] = lambda f: pickle.dump(arr, f, protocol=5)
    print(json.dumps({"ready": sorted(methods), "notes": notes}), flush=True)
    for line in sys.stdin:
        name = line.strip()
        if not name:
            continue
        ms = durable(os.path.join(out, "py-save.bin"), methods[name])
        print(json.dumps({"method": name, "ms": ms}), flush=True)


if __name__ == "__main__":
    main()
