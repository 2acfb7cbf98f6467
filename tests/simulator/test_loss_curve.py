"""Seeded loss curves: deterministic, decaying, accuracy rising, raw floats (5 decimals in the CSV), validation columns."""

from __future__ import annotations

import statistics

from hypothesis import given, settings
from hypothesis import strategies as st

from ftsim.simulator.fine_tuning.loss_curve import CSV_HEADER, csv_number, metrics_at, results_csv, reward_metrics_at


def _curve(seed, total=300, **kw):
    return [metrics_at(seed, s, total, steps_per_epoch=100, has_validation=kw.get("valid", False))
            for s in range(1, total + 1)]


def test_same_seed_same_curve_other_seed_other_curve():
    assert _curve(7) == _curve(7)
    assert _curve(7) != _curve(8)


def test_loss_decays_and_accuracy_rises():
    curve = _curve(3)
    head, tail = curve[:30], curve[-30:]
    assert statistics.mean(m["train_loss"] for m in tail) < 0.5 * statistics.mean(m["train_loss"] for m in head)
    assert statistics.mean(m["train_mean_token_accuracy"] for m in tail) > statistics.mean(
        m["train_mean_token_accuracy"] for m in head)


def test_validation_metrics_only_with_a_validation_file():
    plain = _curve(1)
    assert not any("valid_loss" in m for m in plain)
    valid = _curve(1, valid=True)
    assert "valid_loss" in valid[9] and "valid_loss" not in valid[8]
    assert "valid_loss" in valid[-1]
    assert "full_valid_loss" in valid[99] and "full_valid_loss" not in valid[98]


@given(st.integers(min_value=0, max_value=2**31 - 1), st.integers(min_value=1, max_value=500))
def test_metrics_are_bounded_raw_floats(seed, total):
    step = 1 + seed % total
    m = metrics_at(seed, step, total, steps_per_epoch=max(1, total // 3), has_validation=True)
    assert m["train_loss"] > 0
    assert 0 <= m["train_mean_token_accuracy"] <= 1
    assert list(m)[:4] == ["step", "train_loss", "total_steps", "train_mean_token_accuracy"]


def test_csv_numbers_look_like_the_real_file():
    assert csv_number(3.632651) == "3.63265"
    assert csv_number(0.5) == "0.5"
    assert csv_number(1.0) == "1.0"
    assert csv_number(0.00001) == "0.00001"
    assert csv_number(None) == ""


def test_results_csv_has_a_row_per_step_and_empty_valid_cells():
    text = results_csv(5, 12, steps_per_epoch=4, has_validation=False)
    lines = text.strip().split("\n")
    assert lines[0] == CSV_HEADER
    assert len(lines) == 13
    assert lines[1].startswith("1,") and lines[1].endswith(",,")


def test_reward_rises_for_reinforcement():
    rewards = [reward_metrics_at(2, s, 200, eval_every=20)["train_mean_reward"] for s in range(1, 201)]
    assert statistics.mean(rewards[-20:]) > statistics.mean(rewards[:20])
    assert "full_valid_mean_reward" in reward_metrics_at(2, 20, 200, eval_every=20)


def test_metric_values_are_raw_floats_not_rounded_to_5_decimals():
    values = [v for s in range(1, 301) for k, v in metrics_at(4, s, 300, steps_per_epoch=100, has_validation=True).items()
              if k not in ("step", "total_steps")]
    assert any(round(v, 5) != v for v in values)
    text = results_csv(4, 300, steps_per_epoch=100, has_validation=True)
    assert all(len(cell.split(".")[-1]) <= 5 for row in text.splitlines()[1:] for cell in row.split(",")[1:] if cell)


def _csv_from_metrics(seed: int, total: int, spe: int, has_validation: bool) -> str:
    """The results file as `metrics_at` states each step (what `results_csv` works out directly)."""
    rows = [CSV_HEADER]
    for step in range(1, total + 1):
        m = metrics_at(seed, step, total, steps_per_epoch=spe, has_validation=has_validation)
        rows.append(",".join([str(step), csv_number(m["train_loss"]), csv_number(m["train_mean_token_accuracy"]),
                              csv_number(m.get("valid_loss")), csv_number(m.get("valid_mean_token_accuracy"))]))
    return "\n".join(rows) + "\n"


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**63), total=st.integers(0, 130), spe=st.integers(1, 40), has_validation=st.booleans())
def test_results_csv_is_the_metrics_of_each_step(seed, total, spe, has_validation):
    assert results_csv(seed, total, steps_per_epoch=spe, has_validation=has_validation) == \
        _csv_from_metrics(seed, total, spe, has_validation)


def test_results_csv_past_the_kept_size_is_the_same_text(monkeypatch):
    from ftsim.simulator.fine_tuning import loss_curve

    kept = results_csv(11, 40, steps_per_epoch=8, has_validation=True)
    monkeypatch.setattr(loss_curve, "_CSV_CACHE_STEPS", 39)  # 40 steps: worked out afresh
    assert results_csv(11, 40, steps_per_epoch=8, has_validation=True) == kept == _csv_from_metrics(11, 40, 8, True)
