"""One case of the sweep: a Metropolis Monte Carlo run of a 1D Ising ring.

Reads the case (temperature, spins, sweeps, seed) from a JSON file and writes the mean energy
and mean |magnetization| per spin to another. Deterministic: the same case gives the same result.
"""
import json
import math
import os
import random
import sys

case_path, out_path = sys.argv[1], sys.argv[2]
case = json.load(open(case_path))
t, n, sweeps = float(case["temperature"]), int(case["spins"]), int(case["sweeps"])
rng = random.Random(case["seed"])
spins = [1] * n
energy_sum = magnet_sum = 0.0
samples = 0
for sweep in range(sweeps):
    for _ in range(n):
        i = rng.randrange(n)
        delta = 2 * spins[i] * (spins[i - 1] + spins[(i + 1) % n])
        if delta <= 0 or rng.random() < math.exp(-delta / t):
            spins[i] = -spins[i]
    if sweep >= sweeps // 5:  # after equilibration
        energy_sum += -sum(spins[i] * spins[(i + 1) % n] for i in range(n)) / n
        magnet_sum += abs(sum(spins)) / n
        samples += 1
result = {
    "temperature": t,
    "energy": round(energy_sum / samples, 6),
    "magnetization": round(magnet_sum / samples, 6),
    # The exact energy per spin of the infinite chain, to compare with.
    "exact_energy": round(-math.tanh(1 / t), 6),
}
os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
with open(out_path + ".tmp", "w") as f:
    json.dump(result, f, indent=1)
os.replace(out_path + ".tmp", out_path)
print(f"T={t}: energy {result['energy']} (exact {result['exact_energy']})")
