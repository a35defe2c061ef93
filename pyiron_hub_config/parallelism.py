"""Thread and worker counts sized to a server's CPU limit, not to the host's cores.

A container sees every core of its host: os.cpu_count(), OpenMP, OpenBLAS/MKL and
executorlib's local executor (which falls back to multiprocessing.cpu_count()) would start
one thread or worker per host core, all throttled to the CPU limit. These are the
variables each of them reads instead; the spawner sets them for every server.
"""

from __future__ import annotations

import math

# Each is read by: OpenMP runtimes (LAMMPS, numpy's BLAS threads), OpenBLAS, MKL, BLIS,
# Apple's Accelerate (harmless elsewhere), numexpr (pandas, PyTables), and Python 3.13+
# itself: os.cpu_count() and with it multiprocessing.cpu_count(), concurrent.futures'
# default max_workers and executorlib's default worker count.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "PYTHON_CPU_COUNT",
)


def cpu_count_for(cpu_limit: float) -> int:
    """Whole CPUs a server may use: its limit rounded up, at least 1 (0.5 CPU -> 1)."""
    return max(1, math.ceil(cpu_limit))


def thread_environment(cpu_limit: float) -> dict[str, str]:
    """The variables that size parallel work to a server of cpu_limit CPUs."""
    count = str(cpu_count_for(cpu_limit))
    return {name: count for name in THREAD_VARIABLES}
