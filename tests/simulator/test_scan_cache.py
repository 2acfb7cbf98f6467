"""The validation's cache of small files' scans (simulator/fine_tuning/validation.py): a file uploaded again (the
same fixture in test after test) is not scanned again, and the cache never gives an outcome the scan would not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftsim.pricing.catalog.catalog import load_catalog
from ftsim.pricing.dataset.scan import scan_dataset
from ftsim.simulator.fine_tuning import validation

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "datasets"
MINI = "gpt-4o-mini-2024-07-18"


@pytest.fixture()
def entry() -> Any:
    return load_catalog().resolve(MINI)


@pytest.fixture()
def calls(monkeypatch) -> list[str]:
    """The scanner counts its calls (still the real scan) and the cache starts empty."""
    seen: list[str] = []

    def counting(path, **kwargs):
        seen.append(kwargs["file_id"])
        return scan_dataset(path, **kwargs)

    monkeypatch.setattr(validation, "scan_dataset", counting)
    monkeypatch.setattr(validation, "_scan_cache", type(validation._scan_cache)())
    return seen


def _copy(tmp_path: Path, name: str, as_name: str) -> Path:
    dest = tmp_path / as_name
    dest.write_bytes((FIXTURES / name).read_bytes())
    return dest


def test_the_same_bytes_elsewhere_are_scanned_once(tmp_path, entry, calls):
    first = validation.validate_files(method="supervised", entry=entry,
                                      training=("file-a", _copy(tmp_path, "sft_valid.jsonl", "one.jsonl")),
                                      validation=None)
    again = validation.validate_files(method="supervised", entry=entry,
                                      training=("file-a", _copy(tmp_path, "sft_valid.jsonl", "two.jsonl")),
                                      validation=None)
    assert calls == ["file-a"]
    assert again == first
    report = scan_dataset(FIXTURES / "sft_valid.jsonl", method="supervised", model=entry, file_id="file-a")
    assert (first.n_examples, first.tokens_per_epoch) == (report.n_examples, report.tokens_per_epoch)


def test_other_bytes_method_or_file_id_are_scanned_again(tmp_path, entry, calls):
    path = _copy(tmp_path, "dpo_valid.jsonl", "t.jsonl")
    a = validation.validate_files(method="supervised", entry=entry, training=("file-a", path), validation=None)
    b = validation.validate_files(method="supervised", entry=entry, training=("file-b", path), validation=None)
    ok = validation.validate_files(method="dpo", entry=entry, training=("file-b", path), validation=None)
    path.write_bytes((FIXTURES / "sft_valid.jsonl").read_bytes())  # same path, new bytes
    sft = validation.validate_files(method="supervised", entry=entry, training=("file-b", path), validation=None)
    assert calls == ["file-a", "file-b", "file-b", "file-b"]
    # OpenAI's format-mismatch text names the file: one file's outcome is never given for another
    assert a.error is not None and "file-a" in a.error["message"] and "file-b" not in a.error["message"]
    assert b.error is not None and "file-b" in b.error["message"]
    assert ok.error is None and sft.error is None and sft.n_examples > 0


def test_a_failed_outcome_is_handed_out_as_a_copy(tmp_path, entry, calls):
    path = _copy(tmp_path, "sft_bad_role.jsonl", "t.jsonl")
    first = validation.validate_files(method="supervised", entry=entry, training=("file-a", path), validation=None)
    assert first.error is not None
    expected = dict(first.error)
    first.error["message"] = "changed by a caller"
    again = validation.validate_files(method="supervised", entry=entry, training=("file-a", path), validation=None)
    assert calls == ["file-a"]
    assert again.error == expected


def test_a_scan_that_raises_is_not_kept(tmp_path, entry, monkeypatch):
    from ftsim.pricing.errors import EncodingUnavailable

    monkeypatch.setattr(validation, "_scan_cache", type(validation._scan_cache)())
    path = _copy(tmp_path, "sft_valid.jsonl", "t.jsonl")

    def broken(*_args, **_kwargs):
        raise EncodingUnavailable("o200k_base is missing")

    monkeypatch.setattr(validation, "scan_dataset", broken)
    with pytest.raises(Exception, match="Token counting is unavailable"):
        validation.validate_files(method="supervised", entry=entry, training=("file-a", path), validation=None)
    monkeypatch.setattr(validation, "scan_dataset", scan_dataset)
    assert validation.validate_files(method="supervised", entry=entry, training=("file-a", path),
                                     validation=None).error is None


def test_the_cache_is_bounded(tmp_path, entry, calls, monkeypatch):
    monkeypatch.setattr(validation, "_SCAN_CACHE_SIZE", 2)
    path = _copy(tmp_path, "sft_valid.jsonl", "t.jsonl")
    for file_id in ("file-a", "file-b", "file-c", "file-a"):
        validation.validate_files(method="supervised", entry=entry, training=(file_id, path), validation=None)
    assert calls == ["file-a", "file-b", "file-c", "file-a"]  # file-a was dropped as the oldest
    assert len(validation._scan_cache) == 2


_LINES = [(FIXTURES / name).read_text().splitlines()[i] for name in ("sft_valid.jsonl", "sft_bad_role.jsonl",
                                                                     "dpo_valid.jsonl") for i in range(3)]


@settings(max_examples=25, deadline=None)
@given(lines=st.lists(st.sampled_from(_LINES + ["", "{", '{"messages": []}']), max_size=14),
       method=st.sampled_from(["supervised", "dpo"]))
def test_a_cached_outcome_is_what_a_fresh_scan_gives(tmp_path_factory, lines, method):
    entry = load_catalog().resolve(MINI)
    path = tmp_path_factory.mktemp("scan") / "t.jsonl"
    path.write_text("\n".join(lines) + "\n")
    training = ("file-x", path)
    cached = [validation.validate_files(method=method, entry=entry, training=training, validation=None)
              for _ in range(2)]
    fresh = validation._Scanned  # the outcome straight from the scanner, no cache
    report = scan_dataset(path, method=method, model=entry, param="training_file", file_id="file-x")
    expected = fresh(valid=report.valid, error=None if report.valid else validation._error_of(report, "training_file"),
                     n_examples=report.n_examples, tokens_per_epoch=report.tokens_per_epoch)
    for got in cached:
        assert got.error == expected.error
        if expected.valid:
            assert (got.n_examples, got.tokens_per_epoch) == (expected.n_examples, expected.tokens_per_epoch)
