"""Measure the build against its three targets, in one run, on this machine.

1. ``xlnn build`` with verification (LibreOffice and ``formulas``), into a new
   folder each time: median wall time of N runs, target <= 15 s.
2. A plain 784-50-100-10 network (sigmoid, sigmoid, softmax; random weights,
   fixed seed) with a 1,000-row batch, laid out and saved as xlsx by
   :func:`xlnn.samples.network_batch` and :mod:`xlnn.sheets.xlsx_writer`: median
   wall time, target <= 15 s.
3. The peak memory (maximum resident set) of the ``xlnn build`` process
   itself, target <= 400 MB. LibreOffice runs in processes of its own and is
   reported on its own line.

Each run is a separate process; its wall time is measured here, its peak
memory by itself (``RUSAGE_SELF``, which leaves out LibreOffice). Ratio =
measured / target: at most 1 meets the target.

    python benchmarks/bench_build.py            # 5 builds, 3 big networks
    python benchmarks/bench_build.py --quick    # 1 of each
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUILD_TARGET_S = 15.0
BIG_NETWORK_TARGET_S = 15.0
MEMORY_TARGET_MB = 400.0

BIG_NETWORK = """
import sys
import numpy as np
from xlnn import samples
from xlnn.sheets import xlsx_writer
from xlnn.sheets.flavors import PLAIN
from xlnn.network import Dense, Network

rng = np.random.default_rng(20240601)
sizes, activations = [784, 50, 100, 10], ["sigmoid", "sigmoid", "softmax"]
network = Network(tuple(
    Dense(rng.normal(size=(n_in, n_out)) * 0.1, rng.normal(size=n_out) * 0.1, f)
    for n_in, n_out, f in zip(sizes, sizes[1:], activations)
))
x = rng.integers(0, 256, size=(1000, 784)).astype(float)
data = xlsx_writer.to_bytes(samples.network_batch(network, x, PLAIN))
with open(sys.argv[1], "wb") as file:
    file.write(data)
"""


#: Runs a Python snippet, then prints the process's own peak memory (kB) last.
WITH_OWN_PEAK = """
import resource, sys
code, sys.argv = sys.argv[1], sys.argv[1:]
try:
    exec(compile(code, "<bench>", "exec"), {"__name__": "__main__"})
finally:
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""

BUILD = """
import sys
from xlnn.cli import main
status = main(["build", "--out", sys.argv[1]])
if status:
    raise SystemExit(status)
"""


def measured(code: str, *args: str) -> tuple[float, float]:
    """Run Python ``code`` in a new process; its wall time (s) and own peak (MB)."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", WITH_OWN_PEAK, code, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}):\n{done.stderr}")
    peak_kb = int(done.stderr.strip().splitlines()[-1])  # Linux reports kB
    return seconds, peak_kb / 1024


def children_peak_mb() -> float:
    """Peak resident memory of the largest process any run started and waited for."""
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def verdict(value: float, target: float) -> str:
    ratio = value / target
    if ratio <= 1:
        return f"{ratio:.2f} | met"
    return f"{ratio:.2f} | **missed** by {100 * (ratio - 1):.0f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run of each")
    args = parser.parse_args()
    builds, networks = (1, 1) if args.quick else (5, 3)

    build_times, build_memory = [], []
    with tempfile.TemporaryDirectory(prefix="xlnn-bench-") as scratch:
        for k in range(builds):
            out = Path(scratch) / f"build-{k}"
            seconds, memory = measured(BUILD, str(out))
            build_times.append(seconds)
            build_memory.append(memory)
        soffice_mb = children_peak_mb()
        network_times, network_memory = [], []
        for k in range(networks):
            path = Path(scratch) / f"big-{k}.xlsx"
            seconds, memory = measured(BIG_NETWORK, str(path))
            network_times.append(seconds)
            network_memory.append(memory)
        size_mb = path.stat().st_size / 1e6

    build_s = statistics.median(build_times)
    network_s = statistics.median(network_times)
    peak_mb = max(build_memory)
    print("| Measured | Value | Target | Ratio | Result |")
    print("|---|---:|---:|---:|---|")
    print(
        f"| `xlnn build` with verification, median of {builds} | {build_s:.1f} s "
        f"| {BUILD_TARGET_S:g} s | {verdict(build_s, BUILD_TARGET_S)} |"
    )
    print(
        f"| 784-50-100-10 plain, 1,000 rows, generated and saved, median of "
        f"{networks} | {network_s:.1f} s | {BIG_NETWORK_TARGET_S:g} s "
        f"| {verdict(network_s, BIG_NETWORK_TARGET_S)} |"
    )
    print(
        f"| peak memory of the `xlnn build` process | {peak_mb:.0f} MB "
        f"| {MEMORY_TARGET_MB:g} MB | {verdict(peak_mb, MEMORY_TARGET_MB)} |"
    )
    print()
    print(f"All builds: {', '.join(f'{t:.1f}' for t in build_times)} s.")
    print(f"All big networks: {', '.join(f'{t:.1f}' for t in network_times)} s; ")
    print(f"file {size_mb:.1f} MB, peak memory {max(network_memory):.0f} MB.")
    print(f"Largest process waited for (LibreOffice included): {soffice_mb:.0f} MB.")
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average "
        f"{os.getloadavg()[0]:.1f}."
    )


if __name__ == "__main__":
    main()
