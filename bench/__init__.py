"""ftsim benchmarks: `python -m bench` (or `make bench`) runs every module in `bench.__main__.REGISTRY`.

Each benchmark module exposes `NAME`, `add_arguments(parser)` and `run(args, console) -> dict`; the dict is
written to `bench/results/<name>-<stamp>.json`. Generated data goes to `bench/data/` (gitignored).
"""

from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = BENCH_DIR / "data"
RESULTS_DIR = BENCH_DIR / "results"


def peak_rss_mb() -> float:
    """Peak RSS of this process in MB, from /proc/self/status VmHWM (reset at exec, unlike ru_maxrss)."""
    import resource

    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
