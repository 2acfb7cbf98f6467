"""The chunk pool: whatever happens to the workers, the merged result equals the in-process scan."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftsim.pricing.dataset import scan_pool
from ftsim.pricing.catalog.catalog import load_catalog
from ftsim.pricing.dataset.scan import scan_dataset

DATA = Path(__file__).resolve().parents[2] / "fixtures" / "datasets" / "sft_valid.jsonl"


@pytest.fixture
def big(tmp_path: Path) -> Path:
    path = tmp_path / "big.jsonl"
    line_block = DATA.read_bytes()
    path.write_bytes(line_block * 200)  # 2,400 examples: many chunks
    return path


def _scan(path: Path, **kw):
    return scan_dataset(path, method="supervised", model=load_catalog().resolve("gpt-4o-mini"), **kw)


def test_a_pool_that_cannot_start_gives_the_in_process_result(big, monkeypatch):
    serial = _scan(big, workers=1)

    def broken(*_a, **_k):
        raise OSError("no processes here")

    monkeypatch.setattr(scan_pool.multiprocessing, "get_context", broken)
    pooled = _scan(big, workers=2, min_parallel_bytes=0)
    assert pooled.model_dump() == serial.model_dump()


def test_zero_extra_workers_scans_every_chunk_in_order(big):
    serial = _scan(big, workers=1)
    seen: list[int] = []
    pooled = _scan(big, workers=2, min_parallel_bytes=0, progress=lambda done, total: seen.append(done))
    assert pooled.model_dump() == serial.model_dump()
    assert seen == sorted(seen) and seen[-1] == big.stat().st_size


def test_fork_is_refused_from_a_threaded_process():
    import threading

    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert scan_pool.fork_is_safe() is False
    finally:
        stop.set()
        t.join()
