"""Project parts mode to a billion rows from the per-phase measurements of this machine.

Reads ``results/parts-prune.json``, ``results/parts-dedup.json`` (``bench_parts.py``) and
``results/curate-parts-exact.json``, ``results/curate-parts-exact-near.json``
(``bench_curate_parts.py``), takes each workload's largest
measured size, and prints the projected time on ``--nodes`` × ``--cores-per-node`` cores:

- **sharded work**: each phase's time on the local engine (one process) is scaled by how
  its work grows (below) and divided by E × the cores it can use (the cores, or fewer when
  the phase has fewer tasks: a k-means Lloyd step has one per 65,536-row block of its
  256·k-row sample), where E = T_sharded(local) /
  (workers × T_sharded(Ray)) is the parallel efficiency measured from 1 process to the Ray
  workers on this machine (assumed to hold at scale: optimistic);
- **the driver's serial work** (the call minus the sharded phases, on Ray): it is now
  O(shards + k·d) per pass, so it is scaled linearly with N, an upper bound;
- **storage**: each full pass over the data at ``--storage-gb-s`` aggregate.

Growth of the work with N for embeddings, at k = round(√N) (the default; the benchmark ran
k = 1,000): assignment (``k-means: nearest centroid``) ∝ N·k; k-means training (``k-means:
Lloyd step``, a sample of 256·k rows) ∝ k²; SemDeDup (``semdedup: clusters``) ∝ Σ n_c² =
N²/k; every other phase ∝ N. For documents every phase is linear in N. This is an
extrapolation from one 2-core machine, not a measurement.

Usage::

    python benchmarks/project_parts.py --target 1e9 --nodes 100 --cores-per-node 32
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_scale_out import hms  # noqa: E402


def largest(path: Path) -> tuple[dict, dict, dict] | None:
    """The local and Ray runs at the largest size measured in ``path``, and the summary."""
    if not path.exists():
        return None
    summary = json.loads(path.read_text())
    runs = summary["runs"]
    n = max(r["n"] for r in runs if r["mode"] == "parts-ray")
    pick = {r["mode"]: r for r in runs if r["n"] == n}
    return pick["parts-local"], pick["parts-ray"], summary


def growth(phase: str, n: float, target: float, k: float, embeddings: bool) -> float:
    """How much more work ``phase`` does at ``target`` rows than at ``n`` (see the docstring)."""
    if not embeddings:
        return target / n
    k_target = round(math.sqrt(target))
    if phase == "k-means: nearest centroid":
        return (target * k_target) / (n * k)
    if phase == "k-means: Lloyd step":
        return (k_target / k) ** 2
    if phase == "semdedup: clusters":
        return (target**2 / k_target) / (n**2 / k)
    return target / n


def tasks(phase: str, target: float, embeddings: bool) -> float:
    """How many tasks a phase can run at once at ``target`` rows: a k-means Lloyd step maps
    over the sample's 65,536-row blocks (256·k rows), the other phases over row shards."""
    if embeddings and phase == "k-means: Lloyd step":
        return math.ceil(256 * round(math.sqrt(target)) / 65_536)
    return math.ceil(target / (65_536 if embeddings else 8_192))


def project(name: str, found: tuple[dict, dict, dict], args: argparse.Namespace,
            row_bytes: float, passes: int, embeddings: bool) -> float:  # fmt: skip
    """Print one workload's projection; return its total seconds."""
    local, ray, summary = found
    n, cores = local["n"], args.nodes * args.cores_per_node
    workers = summary.get("workers", 2)
    efficiency = local["sharded_s"] / (workers * ray["sharded_s"])
    k = summary.get("k", 1000)
    work = sharded = 0.0
    for phase, seconds in local["phases"].items():
        scaled = seconds * growth(phase, n, args.target, k, embeddings)
        work += scaled
        sharded += scaled / (min(cores, tasks(phase, args.target, embeddings)) * efficiency)
    serial = ray["serial_s"] * args.target / n
    storage = passes * args.target * row_bytes / (args.storage_gb_s * 1e9)
    total = sharded + serial + storage
    print(f"{name} (measured at n = {n:,}; local {local['wall_s']} s, Ray ×{workers} "
          f"{ray['wall_s']} s; driver peak {ray['driver_peak_mb']} MB on Ray):")  # fmt: skip
    print(f"  E = {local['sharded_s']} / ({workers} × {ray['sharded_s']}) = {efficiency:.2f}")
    capped = (f" (k-means training: {tasks('k-means: Lloyd step', args.target, True):.0f} "
              "blocks per step)") if embeddings else ""  # fmt: skip
    print(f"  sharded work on one process: {hms(work)} → on {cores:,} cores × E{capped}: "
          f"{hms(sharded)}")  # fmt: skip
    print(f"  driver's serial work {ray['serial_s']} s, scaled ×{args.target / n:,.0f} "
          f"(an upper bound: it is O(shards) per pass): {hms(serial)}")  # fmt: skip
    print(f"  storage: {passes} passes × {args.target * row_bytes / 1e12:.2f} TB at "
          f"{args.storage_gb_s:g} GB/s: {hms(storage)}")  # fmt: skip
    print(f"  total ≈ {hms(total)} (no overlap)")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=1e9)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--cores-per-node", type=int, default=32)
    parser.add_argument("--storage-gb-s", type=float, default=10.0)
    args = parser.parse_args()
    print(f"projection to {args.target:.0e} rows on {args.nodes} nodes × {args.cores_per_node} "
          "cores (EXTRAPOLATION from one 2-core machine; see the docstring)\n")  # fmt: skip
    results = HERE / "results"
    for task, name in (("prune", "prune (prototypes, keep-hard)"), ("dedup", "dedup (SemDeDup)")):
        found = largest(results / f"parts-{task}.json")
        if found is not None:
            d = found[2].get("d", 64)
            # passes over the vectors: check, assignment, SemDeDup's bucket reads, kept rows
            project(f"{name} of embeddings, d = {d}", found, args, row_bytes=4 * d,
                    passes=4 if task == "dedup" else 3, embeddings=True)  # fmt: skip
            print()
    for dedup, extra in (("exact", 0), ("exact-near", 4 * 1024)):
        found = largest(results / f"curate-parts-{dedup}.json")
        if found is not None:
            # the input is read, the shard files written and read twice, the kept parts
            # written (5 × 1,833 bytes per document); near: 1 KiB signatures written, then
            # read by the bands, the pairs and the keepers (4 × 1 KiB), as bytes per pass
            project(f"curate --dedup {dedup.replace('-', ',')} of code documents", found,
                    args, row_bytes=1833 + extra / 5, passes=5, embeddings=False)  # fmt: skip
            print()


if __name__ == "__main__":
    main()
