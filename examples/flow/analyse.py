"""Merges the sweep's results into one table, sorted by temperature."""
import json
import os
import sys

results_dir, out_path = sys.argv[1], sys.argv[2]
rows = [json.load(open(os.path.join(results_dir, name)))
        for name in sorted(os.listdir(results_dir)) if name.endswith(".json")]
rows.sort(key=lambda r: r["temperature"])
lines = ["temperature  energy     exact      |magnetization|"]
for r in rows:
    lines.append(f"{r['temperature']:<12} {r['energy']:<10} {r['exact_energy']:<10} {r['magnetization']}")
worst = max(abs(r["energy"] - r["exact_energy"]) for r in rows)
lines.append(f"largest deviation from the exact energy: {worst:.4f}")
with open(out_path, "w") as f:
    f.write("\n".join(lines) + "\n")
print("\n".join(lines))
