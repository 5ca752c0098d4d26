"""A small, deterministic CPU training loop that survives interruptions with ckpt.

A dropout MLP learns a synthetic classification task. Every source of randomness is in play, so
a resume is bitwise identical to an uninterrupted run only when all of it is restored: dropout
draws from torch's RNG, input noise from numpy's, label flips from Python's, and the DataLoader
shuffles with its own generator. ``ckpt_torch`` saves and restores all of that, plus the model,
the optimizer, the StepLR scheduler and the position in the data.

    ckpt run --app pytorch -- /usr/bin/python3 train.py          # stop: exit 75; again: resumes
    /usr/bin/python3 train.py                                    # without ckpt: runs through

It checkpoints every ``--every`` steps and whenever ckpt asks (SIGUSR2), and at the end writes
the final tensors to ``--out`` (default ``final.pt``): compare two runs with ``compare.py``
(tensor by tensor: equal tensors do not make byte-equal ``.pt`` files).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import ckpt_torch  # noqa: E402  (ckpt run --app pytorch also puts it on PYTHONPATH)

SEED = 1234


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=int(os.environ.get("TRAIN_EPOCHS", 12)))
    p.add_argument("--every", type=int, default=int(os.environ.get("TRAIN_EVERY", 100)),
                   help="checkpoint every N steps (and whenever ckpt asks)")
    p.add_argument("--out", default=os.environ.get("TRAIN_OUT", "final.pt"))
    p.add_argument("--progress", default=os.environ.get("TRAIN_PROGRESS"),
                   help="append 'start …' / 'step N' lines to this file (for tests)")
    return p.parse_args()


def make_data() -> TensorDataset:
    g = torch.Generator().manual_seed(SEED)
    x = torch.randn(4096, 64, generator=g)
    w = torch.randn(64, 10, generator=g)
    y = (x @ w + 0.5 * torch.randn(4096, 10, generator=g)).argmax(dim=1)
    return TensorDataset(x, y)


def main() -> int:
    args = parse_args()
    torch.set_num_threads(1)  # same thread count for every run: reductions stay in one order
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    random.seed(SEED)

    data = make_data()
    gen = torch.Generator()
    loader = DataLoader(data, batch_size=32, shuffle=True, generator=gen)
    model = nn.Sequential(
        nn.Linear(64, 256), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(256, 256), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(256, 10),
    )
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=500, gamma=0.5)
    loss_fn = nn.CrossEntropyLoss()

    step, epoch, skip, loss_sum = 0, 0, 0, 0.0
    resumed = ckpt_torch.load(model, opt, sched)
    if resumed is not None:
        step, extra, (epoch, skip) = resumed
        loss_sum = extra["loss_sum"]
    log = open(args.progress, "a", buffering=1) if args.progress else None
    if log:
        log.write(f"start pid={os.getpid()} step={step}\n")
    print(f"train: {'resuming at step ' + str(step) if resumed else 'fresh start'}", flush=True)

    started = time.monotonic()
    while epoch < args.epochs:
        gen.manual_seed(SEED + epoch)  # this epoch's order depends on the epoch number alone
        model.train()
        for batch, (x, y) in enumerate(loader):
            if batch < skip:
                continue  # done before the interruption (skipping draws no random numbers)
            x = x + torch.from_numpy(np.random.normal(0.0, 0.05, size=tuple(x.shape)).astype(np.float32))
            if random.random() < 0.1:
                y = y.roll(1)  # label noise from Python's RNG
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            loss_sum += loss.item()
            if log:
                log.write(f"step {step}\n")
            if step % args.every == 0 or ckpt_torch.requested():
                ckpt_torch.save(step, model, opt, sched, extra={"loss_sum": loss_sum},
                                data_position=(epoch, batch + 1))
        epoch, skip = epoch + 1, 0

    final = {f"model.{k}": v for k, v in model.state_dict().items()}
    for i, s in opt.state_dict()["state"].items():
        for k, v in s.items():
            final[f"opt.{i}.{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
    final["lr"] = torch.tensor(sched.get_last_lr())
    final["loss_sum"] = torch.tensor(loss_sum, dtype=torch.float64)
    final["step"] = torch.tensor(step)
    # The generators' next draws: equal only if their states were carried across every resume.
    final["rng.torch"] = torch.rand(8)
    final["rng.numpy"] = torch.from_numpy(np.random.random(8))
    final["rng.python"] = torch.tensor([random.random() for _ in range(8)], dtype=torch.float64)
    torch.save(final, args.out)
    print(f"train: done, {step} steps, mean loss {loss_sum / step:.6f}, "
          f"{time.monotonic() - started:.1f} s this run", flush=True)
    if log:
        log.write("done\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
