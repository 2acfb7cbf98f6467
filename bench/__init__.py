"""ftsim benchmarks: `python -m bench` (or `make bench`) runs every module in `bench.__main__.REGISTRY`.

Each benchmark module exposes `NAME`, `add_arguments(parser)` and `run(args, console) -> dict`; the dict is
written to `bench/results/<name>-<stamp>.json`. Generated data goes to `bench/data/` (gitignored).
"""

from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = BENCH_DIR / "data"
RESULTS_DIR = BENCH_DIR / "results"
