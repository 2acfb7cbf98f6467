"""Create-request checks: any input is either normalised or a 400 with a dotted param, never a crash."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftsim.simulator.fine_tuning import params as job_params
from ftsim.simulator.core.errors import BadRequestError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 300) | st.floats(-5, 5, allow_nan=False) | st.text(max_size=5)
    | st.just("auto"),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@given(st.text(max_size=80))
def test_suffix_is_echoed_or_refused_with_param_suffix(text):
    try:
        assert job_params.check_suffix(text) == text
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", text)
    except BadRequestError as exc:
        assert exc.param == "suffix"


@settings(max_examples=60)
@given(st.sampled_from(["supervised", "dpo", "reinforcement"]),
       st.dictionaries(st.sampled_from(["n_epochs", "batch_size", "learning_rate_multiplier", "beta",
                                        "compute_multiplier", "eval_interval", "bogus"]), json_values, max_size=4))
def test_method_hyperparameters_normalise_or_400(kind, hp):
    body = {"hyperparameters": hp}
    if kind == "reinforcement":
        body["grader"] = {"type": "string_check"}
    try:
        method = job_params.normalize_method({"type": kind, kind: body}, None)
    except BadRequestError as exc:
        assert exc.param and exc.param.startswith(f"method.{kind}.hyperparameters")
        return
    resolved = method[kind]["hyperparameters"]
    assert resolved["n_epochs"] == "auto" or 1 <= resolved["n_epochs"] <= 50
    assert resolved["batch_size"] == "auto" or 1 <= resolved["batch_size"] <= 256
    assert list(method) == ["type", kind]


@settings(max_examples=60)
@given(json_values)
def test_metadata_and_integrations_never_crash(value):
    for check, param in ((job_params.check_metadata, "metadata"),
                         (lambda v: job_params.normalize_integrations(v, "ftjob-1"), "integrations")):
        try:
            check(value)
        except BadRequestError as exc:
            assert exc.param.startswith(param)


def test_legacy_hyperparameters_merge_into_supervised_and_method_wins():
    method = job_params.normalize_method(
        {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 4}}},
        {"n_epochs": 2, "batch_size": 8},
    )
    assert method["supervised"]["hyperparameters"] == {"batch_size": 8, "learning_rate_multiplier": "auto",
                                                       "n_epochs": 4}
    assert job_params.top_level_hyperparameters(method) == {"n_epochs": 4, "batch_size": 8,
                                                            "learning_rate_multiplier": "auto"}


def test_default_method_is_supervised_and_dpo_has_beta():
    assert job_params.normalize_method(None, None)["type"] == "supervised"
    dpo = job_params.normalize_method({"type": "dpo"}, None)
    assert list(dpo["dpo"]["hyperparameters"]) == ["batch_size", "beta", "learning_rate_multiplier", "n_epochs"]
    assert job_params.top_level_hyperparameters(dpo) is None


@pytest.mark.parametrize("grader", [None, {"type": "label_model"}, "x"])
def test_rft_grader_must_be_a_top_level_grader(grader):
    with pytest.raises(BadRequestError) as info:
        job_params.normalize_method({"type": "reinforcement", "reinforcement": {"grader": grader}}, None)
    assert info.value.param.startswith("method.reinforcement.grader")


def test_suffix_with_a_trailing_newline_is_refused():
    with pytest.raises(BadRequestError) as info:
        job_params.check_suffix("v1\n")
    assert info.value.param == "suffix"
