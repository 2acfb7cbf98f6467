"""The compare horizon: calendar months from a start date, capped at the lifecycle dates, and the trainings in it.

The horizon is `months` from `today`, capped at the first `inference_until` of the two models (with a warning);
retraining every K months adds a training at months K, 2K, ... strictly inside the horizon and only while the
model still accepts new fine-tuning jobs (`training_until`).
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

__all__ = ["DAYS_PER_MONTH", "add_months", "months_between", "horizon", "trainings"]

DAYS_PER_MONTH = Decimal("30.4375")  # 365.25 / 12
CENT = Decimal("0.01")


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` plus whole calendar months (clamped to the month's last day)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    for candidate in range(day.day, 27, -1):
        try:
            return dt.date(year, month, candidate)
        except ValueError:
            continue
    return dt.date(year, month, min(day.day, 28))


def months_between(start: dt.date, end: dt.date) -> Decimal:
    """Fractional months between two dates (days / 30.4375), to 2 decimals, never negative."""
    days = max((end - start).days, 0)
    return (Decimal(days) / DAYS_PER_MONTH).quantize(CENT, rounding=ROUND_HALF_UP)


def horizon(params, today, tuned_entry, base_entry, warnings) -> tuple[dt.date, Decimal]:
    """The horizon's end date and length in months, capped at the first inference shutdown."""
    wanted = add_months(today, params.months)
    stops = [
        (entry.inference_until, entry.snapshot)
        for entry in {tuned_entry.snapshot: tuned_entry, base_entry.snapshot: base_entry}.values()
        if entry.inference_until is not None
    ]
    if stops:
        stop, snapshot = min(stops)
        if stop <= today:
            warnings.append(
                f"{snapshot} stopped serving on {stop.isoformat()} (before {today.isoformat()}): "
                "neither path can run; the horizon is zero."
            )
            return today, Decimal(0)
        if stop < wanted:
            months = months_between(today, stop)
            warnings.append(
                f"Horizon capped at {months} months: {snapshot} (and its fine-tunes) stop serving on "
                f"{stop.isoformat()}, before the {params.months} months asked."
            )
            return stop, months
    return wanted, Decimal(params.months)


def trainings(params, today, horizon_months: Decimal, entry, warnings) -> int:
    """How many trainings happen in the horizon (1 + retrainings before training_until)."""
    if entry.training_until is not None and today >= entry.training_until:
        warnings.append(
            f"{entry.snapshot} accepts no new fine-tuning jobs since {entry.training_until.isoformat()}: "
            "the training cost is hypothetical."
        )
    count = 1
    if params.retrain_every:
        month = params.retrain_every
        while Decimal(month) < horizon_months:
            day = add_months(today, month)
            if entry.training_until is not None and day >= entry.training_until:
                warnings.append(
                    f"Retraining after {entry.training_until.isoformat()} is impossible: new fine-tuning jobs "
                    f"end then for {entry.snapshot}."
                )
                break
            count += 1
            month += params.retrain_every
    return count
