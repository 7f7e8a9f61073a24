"""Measure the build against its three targets, in one run, on this machine.

1. ``xlnn build`` with verification (LibreOffice and ``formulas``), into a new
   folder each time: median wall time of N runs, target <= 15 s.
2. A plain 784-50-100-10 network (sigmoid, sigmoid, softmax; random weights,
   fixed seed) with a 1,000-row batch, laid out and saved as xlsx by
   :func:`xlnn.samples.network_batch` and :mod:`xlnn.sheets.xlsx_writer`: median
   wall time, target <= 15 s.
3. The peak memory of the ``xlnn build`` process with its ``formulas``
   workers (the forked processes that evaluate the add-in files side by
   side), target <= 400 MB: on Linux the largest sum of their proportional
   set sizes (PSS, so that the pages a worker shares with the build count
   once), polled every 0.1 s; elsewhere the build process's own peak. The
   build process's own peak (maximum resident set) is reported too.
   LibreOffice runs in processes of its own and is reported on its own line.

Each run is a separate process; its wall time is measured here, its own
peak memory by itself (``RUSAGE_SELF``, which leaves out LibreOffice and the
workers). Ratio = measured / target: at most 1 meets the target.

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


def measured(code: str, *args: str) -> tuple[float, float, float]:
    """Run Python ``code`` in a new process.

    Returns its wall time (s), its own peak (MB) and the largest PSS of it
    with the Python processes it started (MB; its own peak where there is
    no ``/proc``).
    """
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", WITH_OWN_PEAK, code, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    tree_peak_kb = 0
    while process.poll() is None:  # its few progress lines fit in the pipe
        tree_peak_kb = max(tree_peak_kb, python_tree_pss_kb(process.pid))
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    stderr = process.stderr.read()
    if process.returncode != 0:
        sys.exit(f"failed ({process.returncode}):\n{stderr}")
    peak_kb = int(stderr.strip().splitlines()[-1])  # Linux reports kB
    return seconds, peak_kb / 1024, (tree_peak_kb or peak_kb) / 1024


def python_tree_pss_kb(root: int) -> int:
    """PSS (kB) of process ``root`` and its descendants that run this Python."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # ended while being looked at
        children.setdefault(parent, []).append(int(stat.parent.name))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            if os.readlink(f"/proc/{pid}/exe") != os.path.realpath(sys.executable):
                continue  # LibreOffice, reported apart
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        total += next(
            int(line.split()[1])
            for line in rollup.splitlines()
            if line.startswith("Pss:")
        )
    return total


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

    build_times, build_memory, with_workers = [], [], []
    with tempfile.TemporaryDirectory(prefix="xlnn-bench-") as scratch:
        for k in range(builds):
            out = Path(scratch) / f"build-{k}"
            seconds, memory, tree = measured(BUILD, str(out))
            build_times.append(seconds)
            build_memory.append(memory)
            with_workers.append(tree)
        soffice_mb = children_peak_mb()
        network_times, network_memory = [], []
        for k in range(networks):
            path = Path(scratch) / f"big-{k}.xlsx"
            seconds, memory, _ = measured(BIG_NETWORK, str(path))
            network_times.append(seconds)
            network_memory.append(memory)
        size_mb = path.stat().st_size / 1e6

    build_s = statistics.median(build_times)
    network_s = statistics.median(network_times)
    peak_mb = max(with_workers)
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
        f"| peak memory of the `xlnn build` process and its workers | {peak_mb:.0f} MB "
        f"| {MEMORY_TARGET_MB:g} MB | {verdict(peak_mb, MEMORY_TARGET_MB)} |"
    )
    print()
    print(f"All builds: {', '.join(f'{t:.1f}' for t in build_times)} s.")
    print(f"All big networks: {', '.join(f'{t:.1f}' for t in network_times)} s; ")
    print(f"file {size_mb:.1f} MB, peak memory {max(network_memory):.0f} MB.")
    print(f"The build process alone: {max(build_memory):.0f} MB at its peak.")
    print(f"Largest process waited for (LibreOffice included): {soffice_mb:.0f} MB.")
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average "
        f"{os.getloadavg()[0]:.1f}."
    )


if __name__ == "__main__":
    main()
