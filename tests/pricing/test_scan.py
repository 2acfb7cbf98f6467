"""scan_dataset: one-pass report, exact stats, parallel == in-process, bounded findings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftsim.pricing.catalog.catalog import load_catalog
from ftsim.pricing.errors import DatasetError, EncodingUnavailable
from ftsim.pricing.dataset.scan import SAMPLE_LIMIT, scan_dataset

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "datasets"


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_toy_dataset_report(catalog) -> None:
    report = scan_dataset(FIXTURES / "toy_chat_fine_tuning.jsonl", method="supervised", model=catalog.resolve("gpt-3.5-turbo-0125"))
    assert (report.n_examples, report.tokens_per_epoch, report.tokens_per_epoch_low) == (5, 8232, 8232)  # the notebook's 8,242 less 2 an example
    stats = report.token_stats
    assert (stats.min, stats.max, stats.mean, stats.median) == (24, 8030, 1646.4, 43)  # the notebook's printout less 2 each
    assert (stats.p10, stats.p90) == pytest.approx((24.8, 4861.6))  # numpy quantile of [24, 26, 43, 109, 8030]
    assert not report.valid and report.first_error.code == "invalid_n_examples"
    assert report.first_error.message == "Training file has 5 example(s), but must have at least 10 examples"
    assert report.detected_format == "chat" and report.tokenizer == "cl100k_base"


def test_truncation_caps_billing(catalog) -> None:
    report = scan_dataset(FIXTURES / "toy_chat_fine_tuning.jsonl", method="supervised", model=catalog.resolve("gpt-3.5-turbo-0613"))
    assert report.tokens_per_epoch == 4298 and report.n_truncated == 1
    (warning,) = [f for f in report.findings if f.code == "example_truncated"]
    assert warning.line == 5 and warning.severity == "warning"


@pytest.mark.parametrize(
    ("name", "method", "model", "param", "valid", "code", "line"),
    [
        ("sft_valid.jsonl", "supervised", "gpt-4o-mini-2024-07-18", "training_file", True, None, None),
        ("sft_blank_lines.jsonl", "supervised", "gpt-4o-mini-2024-07-18", "training_file", True, None, None),
        ("sft_too_few.jsonl", "supervised", "gpt-4o-mini-2024-07-18", "training_file", False, "invalid_n_examples", None),
        ("sft_extra_key.jsonl", "supervised", "gpt-4o-mini-2024-07-18", "training_file", False, "invalid_file_format", 1),
        ("sft_bad_json.jsonl", "supervised", "gpt-4o-mini-2024-07-18", "training_file", False, "invalid_file_format", 4),
        ("not_utf8.jsonl", "supervised", "gpt-4o-mini-2024-07-18", "training_file", False, "invalid_file_format", 3),
        ("empty.jsonl", "supervised", "gpt-4o-mini-2024-07-18", "training_file", False, "invalid_n_examples", None),
        ("binary.jsonl", "supervised", "gpt-4o-mini-2024-07-18", "training_file", False, "invalid_training_file", None),
        ("sft_valid.jsonl", "dpo", "gpt-4.1-mini-2025-04-14", "training_file", False, "invalid_training_file", None),
        ("dpo_valid.jsonl", "supervised", "gpt-4.1-mini-2025-04-14", "training_file", False, "invalid_training_file", None),
        ("dpo_valid.jsonl", "dpo", "gpt-4.1-mini-2025-04-14", "training_file", True, None, None),
        ("dpo_missing_input.jsonl", "dpo", "gpt-4.1-mini-2025-04-14", "training_file", False, "invalid_file_format", 1),
        ("rft_train.jsonl", "reinforcement", "o4-mini-2025-04-16", "training_file", True, None, None),
        ("rft_valid.jsonl", "reinforcement", "o4-mini-2025-04-16", "validation_file", True, None, None),
        ("rft_valid.jsonl", "reinforcement", "o4-mini-2025-04-16", "training_file", False, "invalid_n_examples", None),
        ("vision_valid.jsonl", "supervised", "gpt-4o-2024-08-06", "training_file", True, None, None),
        ("vision_valid.jsonl", "supervised", "gpt-4o-mini-2024-07-18", "training_file", False, "invalid_file_format", 1),
        ("vision_image_in_assistant.jsonl", "supervised", "gpt-4o-2024-08-06", "training_file", False, "invalid_file_format", 4),
    ],
)
def test_fixture_verdicts(catalog, name, method, model, param, valid, code, line) -> None:
    report = scan_dataset(FIXTURES / name, method=method, model=catalog.resolve(model), param=param)
    assert report.valid is valid
    if valid:
        assert report.first_error is None and report.n_errors == 0 and report.tokens_per_epoch > 0
    else:
        assert (report.first_error.code, report.first_error.line) == (code, line)
        assert report.first_error.param == param


def test_dpo_reports_both_bounds(catalog) -> None:
    report = scan_dataset(FIXTURES / "dpo_valid.jsonl", method="dpo", model=catalog.resolve("gpt-4.1-mini-2025-04-14"))
    assert report.tokens_per_epoch > report.tokens_per_epoch_low > 0


def test_vision_counts_images(catalog) -> None:
    report = scan_dataset(FIXTURES / "vision_valid.jsonl", method="supervised", model=catalog.resolve("gpt-4o-2024-08-06"))
    # 10 tiny swatches: details cycle low, high, auto -> 4 x 85 + 6 x 255
    assert report.n_images == 10 and report.image_tokens == 4 * 85 + 6 * 255


def test_mismatch_uses_file_id(catalog) -> None:
    report = scan_dataset(FIXTURES / "sft_valid.jsonl", method="dpo", model=catalog.resolve("gpt-4.1-mini-2025-04-14"), file_id="file-abc")
    assert "Input file file-abc is in the fine-tune-chat format" in report.first_error.message


def make_big(path: Path, n: int) -> None:
    with open(path, "w") as fh:
        for i in range(n):
            if i % 97 == 13:
                fh.write("{broken\n")
            elif i % 89 == 5:
                fh.write("\n")
            else:
                fh.write(json.dumps({"messages": [{"role": "user", "content": f"question {i} " * (i % 7)},
                                                  {"role": "assistant", "content": f"answer {i}"}]}) + "\n")


def test_parallel_equals_in_process(catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ftsim.pricing.dataset.scan as scan

    path = tmp_path / "big.jsonl"
    make_big(path, 3000)
    model = catalog.resolve("gpt-4o-mini-2024-07-18")
    ticks: list[tuple[int, int]] = []
    serial = scan_dataset(path, method="supervised", model=model, workers=1)
    runs: list[int] = []
    real_run = scan._run
    monkeypatch.setattr(scan, "_run", lambda job, size, workers, *rest: runs.append(workers) or real_run(job, size, workers, *rest))
    parallel = scan_dataset(path, method="supervised", model=model, workers=2, min_parallel_bytes=0, progress=lambda d, t: ticks.append((d, t)))
    assert runs == [2]  # the process pool ran (no fallback to in-process)
    assert parallel.model_dump() == serial.model_dump()
    assert ticks[-1] == (path.stat().st_size, path.stat().st_size)
    assert serial.first_error.line == 14 and serial.counts["invalid_file_format"] == len(range(13, 3000, 97))
    assert len(serial.findings) <= SAMPLE_LIMIT + 2
    assert serial.n_errors + serial.n_warnings > SAMPLE_LIMIT  # more problems than the sample keeps


def test_unreadable_and_unprovisioned(catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = catalog.resolve("gpt-4o-mini-2024-07-18")
    with pytest.raises(DatasetError):
        scan_dataset(tmp_path / "nope.jsonl", method="supervised", model=model)
    with pytest.raises(DatasetError):
        scan_dataset(tmp_path, method="supervised", model=model)
    monkeypatch.setattr("ftsim.pricing.dataset.tokenizer.bundled_dir", lambda: tmp_path)
    with pytest.raises(EncodingUnavailable, match="reinstall"):
        scan_dataset(FIXTURES / "sft_valid.jsonl", method="supervised", model=model)


def test_report_json_roundtrip(catalog) -> None:
    from ftsim.pricing.dataset.scan import DatasetReport

    report = scan_dataset(FIXTURES / "sft_bad_role.jsonl", method="supervised", model=catalog.resolve("gpt-4o-mini-2024-07-18"))
    again = DatasetReport.model_validate_json(report.model_dump_json())
    assert again == report and again.errors and not again.warnings
