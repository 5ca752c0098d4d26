"""Compares two ``final.pt`` files of train.py tensor by tensor (``torch.equal``): exit 0 when
every tensor is bitwise equal, 1 otherwise, naming the differing ones.

    /usr/bin/python3 compare.py reference/final.pt resumed/final.pt
"""

import sys

import torch


def main(a_path: str, b_path: str) -> int:
    a = torch.load(a_path, map_location="cpu")
    b = torch.load(b_path, map_location="cpu")
    problems = [f"only in {a_path}: {k}" for k in sorted(a.keys() - b.keys())]
    problems += [f"only in {b_path}: {k}" for k in sorted(b.keys() - a.keys())]
    for key in sorted(a.keys() & b.keys()):
        x, y = a[key], b[key]
        if x.dtype != y.dtype or x.shape != y.shape or not torch.equal(x, y):
            diff = (x.double() - y.double()).abs().max().item() if x.shape == y.shape else "shape"
            problems.append(f"differs: {key} (max abs diff {diff})")
    for line in problems:
        print(line)
    print(f"{len(a.keys() & b.keys()) - sum(p.startswith('differs') for p in problems)} of "
          f"{len(a.keys() | b.keys())} tensors equal")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
