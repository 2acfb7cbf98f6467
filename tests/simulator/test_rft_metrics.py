"""RFT metrics events: the live message text and the fuller `data` shape of reference §3.2 (audit 5)."""

from __future__ import annotations

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from ftsim.simulator.fine_tuning import lifecycle
from ftsim.simulator.fine_tuning.types import FineTuningJob, JobPlan, JobRecord
from ftsim.simulator.fine_tuning.loss_curve import reward_message, reward_metrics_at

T0 = 1_793_491_200
TOP_KEYS = ["step", "total_steps", "usage", "errors", "scores", "timing", "train_mean_reward",
            "reasoning_tokens_mean", "completion_tokens_mean", "mean_unresponsive_rewards",
            "model_graders_token_usage", "valid_reasoning_tokens_mean"]
EVAL_KEYS = {"full_valid_mean_reward", "full_valid_mean_parse_error"}
MESSAGE = re.compile(r"^Step (\d+)/(\d+) , train mean reward=\d\.\d\d"
                     r"(, full validation mean reward=\d\.\d\d, full validation mean parse error=\d\.\d\d)?$")
MULTI = {"type": "multi", "calculate_output": "0.5 * exact + 0.5 * judge", "graders": {
    "exact": {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
              "reference": "{{item.answer}}", "operation": "eq"},
    "judge": {"type": "score_model", "name": "judge", "model": "gpt-4o-mini-2024-07-18", "input": []}}}


def test_the_reference_message_text_exactly():
    data = {"step": 10, "total_steps": 20, "train_mean_reward": 0.42, "full_valid_mean_reward": 0.68,
            "full_valid_mean_parse_error": 0.0}
    assert reward_message(data) == ("Step 10/20 , train mean reward=0.42, full validation mean reward=0.68, "
                                    "full validation mean parse error=0.00")
    assert reward_message({"step": 3, "total_steps": 20, "train_mean_reward": 0.2}) == \
        "Step 3/20 , train mean reward=0.20"


def test_eval_step_data_has_the_fuller_shape():
    data = reward_metrics_at(7, 10, 20, eval_every=10, grader=MULTI, sec_per_step=90.0)
    assert [k for k in data if k not in EVAL_KEYS] == TOP_KEYS and EVAL_KEYS <= set(data)
    names = [(g["name"], g["type"]) for g in data["scores"]["graders"]]
    assert names == [("exact", "string_check"), ("judge", "score_model")]
    for section in (data["usage"]["graders"], data["errors"]["graders"], data["timing"]["graders"]):
        assert [(g["name"], g["type"]) for g in section] == names
    judge = data["usage"]["graders"][1]
    assert judge["model"] == "gpt-4o-mini-2024-07-18" and judge["train_prompt_tokens_mean"] > 0
    assert data["usage"]["graders"][0]["model"] is None
    assert set(data["model_graders_token_usage"]) == {"gpt-4o-mini-2024-07-18"}
    usage = data["model_graders_token_usage"]["gpt-4o-mini-2024-07-18"]
    assert set(usage) == {f"{p}_{k}_tokens" for p in ("eval", "train") for k in ("cached", "prompt", "completion")}
    assert usage["train_prompt_tokens"] > 0 and usage["eval_prompt_tokens"] > 0
    assert data["scores"]["train_reward_mean"] == data["train_mean_reward"]
    assert data["scores"]["valid_reward_mean"] == data["full_valid_mean_reward"]
    step = data["timing"]["step"]
    assert set(step) == {"eval", "sampling", "training", "full_iteration"} and step["eval"] > 0
    assert abs(step["eval"] + step["sampling"] + step["training"] - step["full_iteration"]) < 0.02
    assert step["full_iteration"] == 90.0
    assert data["completion_tokens_mean"] > data["reasoning_tokens_mean"] > 0
    err = data["errors"]["graders"][0]
    assert {"train_sample_parse_error_mean", "valid_invalid_variable_error_count", "train_other_error_mean"} <= set(err)
    assert len(json.dumps(data)) < 4000  # small: one entry per grader


def test_non_eval_step_leaves_validation_figures_out():
    data = reward_metrics_at(7, 3, 20, eval_every=10, grader=MULTI["graders"]["exact"])
    assert not EVAL_KEYS & set(data)
    assert data["scores"]["valid_reward_mean"] is None and data["valid_reasoning_tokens_mean"] is None
    assert data["timing"]["step"]["eval"] == 0.0
    assert data["model_graders_token_usage"] == {}
    assert [g["name"] for g in data["scores"]["graders"]] == ["exact"]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), total=st.integers(1, 300), every=st.integers(1, 50), data=st.data())
def test_values_are_seeded_plausible_and_in_range(seed, total, every, data):
    step = data.draw(st.integers(1, total))
    first = reward_metrics_at(seed, step, total, eval_every=every, grader=MULTI, sec_per_step=30.0)
    assert first == reward_metrics_at(seed, step, total, eval_every=every, grader=MULTI, sec_per_step=30.0)
    assert 0.0 <= first["train_mean_reward"] <= 1.0
    for g in first["scores"]["graders"]:
        assert 0.0 <= g["train_reward_mean"] <= 1.0
    assert MESSAGE.match(reward_message(first))
    assert (step % every == 0 or step == total) == ("full_valid_mean_reward" in first)


def test_rft_job_metrics_events_carry_the_full_data():
    hp = {"batch_size": "auto", "learning_rate_multiplier": "auto", "n_epochs": "auto", "eval_interval": 5,
          "eval_samples": "auto", "compute_multiplier": "auto", "reasoning_effort": "default"}
    job = JobRecord(
        job=FineTuningJob.model_validate({
            "object": "fine_tuning.job", "id": "ftjob-rft", "model": "o4-mini-2025-04-16", "created_at": T0,
            "organization_id": "org-x",
            "status": "validating_files", "validation_file": "file-v", "training_file": "file-t",
            "hyperparameters": None, "user_provided_suffix": None, "seed": 9, "error": {}, "finished_at": None,
            "fine_tuned_model": None, "trained_tokens": None,
            "method": {"type": "reinforcement", "reinforcement": {"hyperparameters": hp, "grader": MULTI}},
        }),
        plan=JobPlan(seed=9, snapshot="o4-mini-2025-04-16", org_slug="personal", tenant=["org-x", "personal", "p"],
                     model_name=lifecycle.model_name("o4-mini-2025-04-16", "personal", None, "ftjob-rft"),
                     validate_until=T0 + 40, outcome=None, seq=0),
    )
    job = lifecycle.resolve_plan(job, n_examples=10, tokens_per_epoch=2000, auto_epochs=2, auto_batch=1,
                                 lr_default=2.0, tps=200, n_validation=4)
    adv = lifecycle.advance(job, T0 + 30 * 86400)
    metrics = [e for e in adv.events if e["type"] == "metrics"]
    assert [e["data"]["step"] for e in metrics] == list(range(1, 21))
    for e in metrics:
        assert MESSAGE.match(e["message"]) and e["level"] == "info"
        assert reward_message(e["data"]) == e["message"]
        assert [k for k in e["data"] if k not in EVAL_KEYS] == TOP_KEYS
    evals = [e["data"]["step"] for e in metrics if "full_valid_mean_reward" in e["data"]]
    assert evals == [5, 10, 15, 20]
    assert metrics[0]["data"]["timing"]["step"]["full_iteration"] == round(job.plan.sec_per_step, 2)
