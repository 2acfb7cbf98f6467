"""Streaming JSONL reader: findings for bad lines, line-aligned byte ranges, training pairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ftsim.pricing.dataset.reader import binary_reason, check_readable, iter_training_pairs, plan_chunks, read_jsonl
from ftsim.pricing.errors import DatasetError
from ftsim.pricing.dataset.validation import Finding

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "datasets"


def write(tmp_path: Path, data: bytes, name: str = "d.jsonl") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_reads_objects_with_file_line_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, b'{"a": 1}\n\n{"b": 2}\r\n{"c": 3}')  # blank line, CRLF, no final newline
    items = list(read_jsonl(path))
    assert [n for n, _ in items] == [1, 2, 3, 4]
    assert items[0][1] == {"a": 1} and items[2][1] == {"b": 2} and items[3][1] == {"c": 3}
    assert isinstance(items[1][1], Finding) and items[1][1].code == "blank_line" and items[1][1].severity == "warning"


def test_bom_is_tolerated(tmp_path: Path) -> None:
    assert list(read_jsonl(write(tmp_path, b'\xef\xbb\xbf{"a": 1}\n'))) == [(1, {"a": 1})]


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        (b'{"a": ', "not valid JSON"),
        (b"caf\xe9", "not valid UTF-8 (byte 0xe9 at column 4)"),
        (b"[1, 2]", "not a JSON object (found an array)"),
        (b'"text"', "not a JSON object (found a string)"),
        (b"null", "not a JSON object (found null)"),
        (b"12", "not a JSON object (found a number)"),
        (b'{"a":\x00 1}', "NUL byte"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ],
)
def test_bad_lines_are_error_findings(tmp_path: Path, line: bytes, fragment: str) -> None:
    path = write(tmp_path, b'{"ok": true}\n' + line + b"\n")
    (n, item), = [(n, i) for n, i in read_jsonl(path) if n == 2]
    assert isinstance(item, Finding) and item.severity == "error" and item.code == "invalid_file_format"
    assert item.line == 2 and "Example 2" in item.message and fragment in item.message
    assert item.message.startswith("The job failed due to a file format error in the training file. Invalid file format.")


def test_overlong_line_is_skipped_not_loaded(tmp_path: Path) -> None:
    path = write(tmp_path, b'{"a": "' + b"x" * 5000 + b'"}\n{"b": 1}\n')
    items = list(read_jsonl(path, max_line_bytes=1000))
    assert isinstance(items[0][1], Finding) and "line limit" in items[0][1].message
    assert items[1] == (2, {"b": 1})


def test_validation_file_param(tmp_path: Path) -> None:
    (_, item), = read_jsonl(write(tmp_path, b"nope\n"), param="validation_file")
    assert item.param == "validation_file" and "in the validation file" in item.message


def test_unreadable_paths_raise_one_line(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        check_readable(tmp_path / "missing.jsonl")
    with pytest.raises(DatasetError, match="is a directory"):
        list(read_jsonl(tmp_path))
    assert check_readable(write(tmp_path, b"")) == 0
    assert list(read_jsonl(tmp_path / "d.jsonl")) == []


def test_binary_detection() -> None:
    assert "PNG" in binary_reason(FIXTURES / "binary.jsonl")
    assert binary_reason(FIXTURES / "sft_valid.jsonl") is None


lines_strategy = st.lists(
    st.one_of(st.just(""), st.text(alphabet="ab{}[]\":, é", max_size=30), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3).map(json.dumps)),
    max_size=30,
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(lines=lines_strategy, n=st.integers(1, 7), final_newline=st.booleans())
def test_chunks_cover_every_line_once(tmp_path: Path, lines: list[str], n: int, final_newline: bool) -> None:
    data = "\n".join(lines).encode() + (b"\n" if final_newline and lines else b"")
    path = write(tmp_path, data)
    whole = [(line, repr(item)) for line, item in read_jsonl(path)]
    chunks = plan_chunks(path, n)
    assert chunks[0][0] == 0 and chunks[-1][1] == len(data)
    assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))
    pieces = [(line, repr(item)) for a, b, first in chunks for line, item in read_jsonl(path, a, b, first_line=first)]
    assert pieces == whole


def test_unaligned_ranges_still_partition(tmp_path: Path) -> None:
    path = write(tmp_path, b'{"a": 1}\n{"b": 22}\n{"c": 333}\n')
    size = path.stat().st_size
    for cut in range(size + 1):
        left = list(read_jsonl(path, 0, cut))
        right = list(read_jsonl(path, cut, size))
        assert len(left) + len(right) == 3, cut


def test_progress_reports_every_byte(tmp_path: Path) -> None:
    path = write(tmp_path, b'{"a": 1}\n' * 1000)
    seen: list[int] = []
    list(read_jsonl(path, on_progress=seen.append))
    assert sum(seen) == path.stat().st_size


def test_training_pairs() -> None:
    pairs = list(iter_training_pairs(FIXTURES / "sft_valid.jsonl"))
    prompts = [p for p, _ in pairs]
    replies = [r for _, r in pairs]
    assert "Every 150 to 300 km, or after any ride in the rain. Wipe off the excess afterwards." in replies
    assert "hello maria!!! ok" not in replies  # weight 0: not trained
    assert "Of course, Maria: you're booked for Saturday at 9:00." in replies
    assert all(p and p[-1]["role"] in ("user", "tool") for p in prompts)
    dpo = list(iter_training_pairs(FIXTURES / "dpo_valid.jsonl"))
    assert len(dpo) == 10 and dpo[0][0][-1]["role"] == "user"
    assert list(iter_training_pairs(FIXTURES / "not_utf8.jsonl"))  # bad lines are skipped, not fatal


@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(lines=st.lists(st.binary(max_size=40) | st.text(max_size=40).map(str.encode), max_size=12))
def test_arbitrary_bytes_never_raise(tmp_path: Path, lines: list[bytes]) -> None:
    from ftsim.pricing.dataset.validation import validate_example

    path = write(tmp_path, b"\n".join(lines))
    for line, item in read_jsonl(path):
        if isinstance(item, Finding):
            assert item.line == line
        else:
            for method in ("supervised", "dpo", "reinforcement"):
                validate_example(item, line, method, vision=True)
