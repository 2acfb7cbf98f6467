"""Graders: validation, string/text/model stand-ins, multi formulas (safe parser), python graders in a subprocess."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ftsim.simulator.core.backend import Backend, SimConfig
from ftsim.simulator.core.clock import ManualClock
from ftsim.simulator.core.errors import BadRequestError
from ftsim.simulator.graders.formula import FormulaError, evaluate, parse
from ftsim.simulator.graders.metrics import METRICS, similarity
from ftsim.simulator.graders.graders import ERROR_FLAGS
from ftsim.simulator.core.store import Store


def make(**config):
    return Backend(store=Store(":memory:"), clock=ManualClock(), config=SimConfig(**config))


@pytest.fixture(scope="module")
def backend():
    b = make()
    yield b
    b.close()


@pytest.fixture(scope="module")
def tenant(backend):
    return backend.tenant("sk-alice")


def check(op, input="{{sample.output_text}}", reference="{{item.answer}}"):
    return {"type": "string_check", "name": "check", "input": input, "reference": reference, "operation": op}


def run(backend, tenant, grader, sample, item=None):
    return backend.graders.run(tenant, grader=grader, model_sample=sample, item=item or {})


@pytest.mark.parametrize("op, sample, answer, reward", [
    ("eq", "Paris", "Paris", 1.0), ("eq", "paris", "Paris", 0.0),
    ("ne", "Paris", "Paris", 0.0), ("ne", "Rome", "Paris", 1.0),
    ("like", "It is Paris.", "Paris", 1.0), ("like", "It is paris.", "Paris", 0.0),
    ("ilike", "IT IS PARIS.", "Paris", 1.0), ("ilike", "Rome", "Paris", 0.0),
])
def test_string_check(backend, tenant, op, sample, answer, reward):
    out = run(backend, tenant, check(op), sample, {"answer": answer})
    assert out.reward == reward
    assert out.metadata.errors == ERROR_FLAGS and out.metadata.type == "string_check"
    assert out.sub_rewards == {} and out.model_grader_token_usage_per_model == {}


def test_templates_reach_into_json_and_nested_items(backend, tenant):
    grader = check("eq", "{{sample.output_json.city.name}}", "{{item.gold.city}}")
    assert run(backend, tenant, grader, '{"city": {"name": "Oslo"}}', {"gold": {"city": "Oslo"}}).reward == 1.0
    bad_json = run(backend, tenant, grader, "not json", {"gold": {"city": "Oslo"}})
    assert bad_json.reward == 0.0 and bad_json.metadata.errors["sample_parse_error"]
    missing = run(backend, tenant, check("eq"), "x", {})
    assert missing.reward == 0.0 and missing.metadata.errors["invalid_variable_error"]


@pytest.mark.parametrize("metric", METRICS)
def test_text_similarity_extremes(metric):
    # METEOR keeps its fragmentation penalty even for identical texts (as nltk does)
    assert similarity(metric, "the cat sat on the mat", "the cat sat on the mat") == pytest.approx(1.0, abs=0.01)
    assert similarity(metric, "aaaa bbbb", "cccc dddd") == pytest.approx(0.0, abs=0.2 if metric == "fuzzy_match" else 0)


def test_rouge_and_bleu_known_values():
    # ROUGE-1: 3 shared unigrams of 4 and 5 -> F1 = 2*(3/4)*(3/5)/(3/4+3/5)
    assert similarity("rouge_1", "the cat sat down", "the cat sat on mat") == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    # ROUGE-L: LCS "a c d" = 3 of 4 and 4
    assert similarity("rouge_l", "a b c d", "a c e d") == pytest.approx(0.75)
    # a shorter hypothesis pays the brevity penalty
    assert similarity("bleu", "the cat", "the cat sat on the mat") < similarity("bleu", "the cat sat on", "the cat sat on the mat")


@settings(max_examples=60, deadline=None)
@given(metric=st.sampled_from(METRICS), a=st.text(max_size=40), b=st.text(max_size=40))
def test_similarity_is_a_score_between_0_and_1(metric, a, b):
    assert 0.0 <= similarity(metric, a, b) <= 1.0 + 1e-9


def _model_grader(kind="score_model", **kw):
    base = {"type": kind, "name": kind, "model": "gpt-4o-mini-2024-07-18",
            "input": [{"role": "user", "content": "Rate {{sample.output_text}} against {{item.answer}}"}]}
    if kind == "label_model":
        base |= {"labels": ["good", "bad"], "passing_labels": ["good"]}
    return base | kw


def test_score_model_stand_in_is_deterministic_and_in_range(backend, tenant):
    grader = _model_grader(range=[1, 7])
    first = run(backend, tenant, grader, "an answer", {"answer": "x"})
    assert 1 <= first.reward <= 7 and first.reward == run(backend, tenant, grader, "an answer", {"answer": "x"}).reward
    usage = first.model_grader_token_usage_per_model["gpt-4o-mini-2024-07-18"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert first.metadata.token_usage == usage["total_tokens"]
    assert first.metadata.sampled_model_name == "gpt-4o-mini-2024-07-18"
    rewards = {run(backend, tenant, grader, f"answer {i}", {"answer": "x"}).reward for i in range(10)}
    assert len(rewards) > 1


def test_label_model_inside_multi(backend, tenant):
    multi = {"type": "multi", "name": "m", "graders": {"lab": _model_grader("label_model")}, "calculate_output": "lab"}
    assert run(backend, tenant, multi, "this is good", {"answer": "x"}).reward == 1.0
    assert run(backend, tenant, multi, "this is BAD", {"answer": "x"}).reward == 0.0
    with pytest.raises(BadRequestError):
        backend.graders.validate(tenant, grader=_model_grader("label_model"))  # not at the top level


def test_multi_combines_sub_rewards_with_the_formula(backend, tenant):
    multi = {"type": "multi", "name": "combo", "calculate_output": "0.5 * exact + 2 ^ 2 * max(part, 0.25) - abs(-1)",
             "graders": {"exact": check("eq"), "part": check("like", reference="{{item.word}}")}}
    out = run(backend, tenant, multi, "Paris", {"answer": "Paris", "word": "Par"})
    assert out.sub_rewards == {"exact": 1.0, "part": 1.0}
    assert out.reward == pytest.approx(0.5 + 4 * 1.0 - 1)
    out = run(backend, tenant, multi, "Lyon", {"answer": "Paris", "word": "Par"})
    assert out.reward == pytest.approx(4 * 0.25 - 1)
    zero = dict(multi, calculate_output="exact / part")
    failed = run(backend, tenant, zero, "Lyon", {"answer": "Paris", "word": "Par"})
    assert failed.reward == 0.0 and failed.metadata.errors["formula_parse_error"]


@pytest.mark.parametrize("grader", [
    None, "string_check", {"type": "string_check"}, check("contains"),
    {"type": "text_similarity", "name": "t", "input": "a", "reference": "b", "evaluation_metric": "bertscore"},
    _model_grader(model="gpt-3.5-turbo"), _model_grader(range=[1, 0]),
    _model_grader(model="o3-mini", sampling_params={"temperature": 0.2}),
    _model_grader(sampling_params={"reasoning_effort": "high"}),
    {"type": "multi", "name": "m", "graders": {"a": check("eq")}, "calculate_output": "a + b"},
    {"type": "multi", "name": "m", "graders": {"a": check("eq")}, "calculate_output": "__import__('os')"},
    {"type": "multi", "name": "m", "graders": {"a": {"type": "multi", "name": "x", "graders": {},
                                                     "calculate_output": "1"}}, "calculate_output": "a"},
    check("eq", input="{{foo.bar}}"), check("eq", input="{{sample.secret}}"),
    {"type": "python", "name": "p", "source": "def grade(s, i): return 1"},
])
def test_invalid_graders_are_400_on_param_grader(backend, tenant, grader):
    with pytest.raises(BadRequestError) as exc:
        backend.graders.validate(tenant, grader=grader)
    assert exc.value.param == "grader"


def test_validate_echoes(backend, tenant):
    grader = {"type": "multi", "name": "m", "graders": {"a": check("eq")}, "calculate_output": "a"}
    assert backend.graders.validate(tenant, grader=grader) == {"grader": grader}


def test_python_graders_are_off_by_default(backend, tenant):
    with pytest.raises(BadRequestError) as exc:
        run(backend, tenant, {"type": "python", "name": "p", "source": "def grade(s, i):\n    return 1\n"}, "x")
    assert "disabled" in exc.value.message


@pytest.fixture(scope="module")
def py_backend():
    b = make(python_graders=True)
    b.graders.python_timeout = 2.0
    yield b
    b.close()


def py(source):
    return {"type": "python", "name": "p", "source": source}


def test_python_grader_runs_grade(py_backend):
    tenant = py_backend.tenant("sk-a")
    source = "import json\ndef grade(sample, item):\n    print('noise')\n    return len(sample['output_text']) / item['n']\n"
    out = run(py_backend, tenant, py(source), "abcd", {"n": 8})
    assert out.reward == 0.5 and not out.metadata.errors["python_grader_runtime_error"]


@pytest.mark.parametrize("source, details", [
    ("def grade(sample, item):\n    raise KeyError('boom')\n", "KeyError"),
    ("def grade(sample, item):\n    return 'high'\n", "expected a number"),
    ("def grade(sample, item):\n    while True:\n        pass\n", "did not finish"),
])
def test_python_grader_failures_are_reported(py_backend, source, details):
    out = run(py_backend, py_backend.tenant("sk-a"), py(source), "x")
    assert out.reward == 0.0 and out.metadata.errors["python_grader_runtime_error"]
    assert details in out.metadata.errors["python_grader_runtime_error_details"]


def test_python_grader_source_is_checked(py_backend):
    for source in ("def grade(:", "def other(a, b):\n    return 1\n"):
        with pytest.raises(BadRequestError):
            py_backend.graders.validate(py_backend.tenant("sk-a"), grader=py(source))


# -- the formula parser ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, value", [
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("2 ^ 3 ^ 2", 512), ("-2 ^ 2", -4), ("10 / 4 - 1", 1.5),
    ("min(3, 1, 2) + max(1)", 2), ("floor(2.7) + ceil(2.1)", 5), ("sqrt(16) + log(exp(2))", 6), ("abs(-3)", 3),
    ("1e2 + .5", 100.5), ("a * b + c", 2 * 3 + 4),
])
def test_formula_values(text, value):
    assert evaluate(parse(text), {"a": 2, "b": 3, "c": 4}) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "1 +", "(1", "1)", "foo(1)", "min", "sqrt(1, 2)", "a.b", "1 ; 2", "x[0]",
                                  "__import__('os').system('true')", "lambda: 1", "2 ** 3"])
def test_formula_errors(text):
    with pytest.raises(FormulaError):
        evaluate(parse(text), {"a": 1, "x": 1})


def test_huge_or_deep_formulas_are_refused_not_crashing():
    for text in ("1" + "+1" * 3000, "(" * 200 + "1" + ")" * 200, "-" * 500 + "1", "2" + "^2" * 300):
        with pytest.raises(FormulaError):
            evaluate(parse(text), {})


def test_formula_runtime_errors():
    for text in ("1 / 0", "sqrt(-1)", "log(0)", "exp(1000)", "nope"):
        with pytest.raises(FormulaError):
            evaluate(parse(text), {})


_leaf = st.one_of(st.integers(0, 9).map(float), st.sampled_from(["a", "b"]))


def _expr(children):
    return st.one_of(
        st.tuples(st.sampled_from(["+", "-", "*"]), children, children),
        st.tuples(st.just("max"), children, children),
        st.tuples(st.just("neg"), children),
    )


def _render(node):
    if isinstance(node, float):
        return repr(node)
    if isinstance(node, str):
        return node
    if node[0] == "max":
        return f"max({_render(node[1])}, {_render(node[2])})"
    if node[0] == "neg":
        return f"-({_render(node[1])})"
    return f"({_render(node[1])} {node[0]} {_render(node[2])})"


def _value(node, env):
    if isinstance(node, float):
        return node
    if isinstance(node, str):
        return env[node]
    if node[0] == "neg":
        return -_value(node[1], env)
    a, b = _value(node[1], env), _value(node[2], env)
    return {"+": a + b, "-": a - b, "*": a * b, "max": max(a, b)}[node[0]]


@settings(max_examples=100, deadline=None)
@given(tree=st.recursive(_leaf, _expr, max_leaves=12), a=st.floats(-5, 5), b=st.floats(-5, 5))
def test_formula_matches_a_reference_evaluation(tree, a, b):
    env = {"a": a, "b": b}
    expected = _value(tree, env)
    assert math.isclose(evaluate(parse(_render(tree)), env), expected, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=50, deadline=None)
@given(sample=st.text(max_size=20), answer=st.text(max_size=20))
@example(sample="ΑΣΑ", answer="ΑΣ")  # str.lower() is context-sensitive for a final sigma; casefold is not
def test_string_check_operations_are_consistent(backend, tenant, sample, answer):
    rewards = {op: run(backend, tenant, check(op, input=sample.replace("{", ""), reference=answer.replace("{", "")),
                       "").reward for op in ("eq", "ne", "like", "ilike")}
    assert rewards["eq"] + rewards["ne"] == 1.0
    assert rewards["eq"] <= rewards["like"] <= rewards["ilike"]


# -- bounded work (issue 13, defect 5) ------------------------------------------------------------------------------

def _lcs_table(a, b):
    """The textbook O(n·m) LCS table, the reference the bit-parallel one must equal."""
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abcé ", max_size=40), st.text(alphabet="abcé ", max_size=40))
def test_bit_parallel_lcs_equals_the_table(a, b):
    from ftsim.simulator.graders.metrics import lcs_length

    assert lcs_length(a, b) == _lcs_table(a, b) == lcs_length(b, a)
    assert lcs_length(a.split(), b.split()) == _lcs_table(a.split(), b.split())
    total = len(a) + len(b)
    assert similarity("fuzzy_match", a, b) == pytest.approx(1.0 if total == 0 else 2 * _lcs_table(a, b) / total)


def test_fuzzy_match_is_rapidfuzz_ratio():
    # rapidfuzz fuzz.ratio("this is a test", "this is a test!") == 96.55...: 2*14/29
    assert similarity("fuzzy_match", "this is a test", "this is a test!") == pytest.approx(28 / 29)


def test_meteor_aligns_each_word_to_its_first_free_position():
    # "a a b" against "b a a": the two a's take positions 1 and 2, b takes 0: 2 chunks, 3 matches
    p = r = 1.0
    expected = 10 * p * r / (r + 9 * p) * (1 - 0.5 * (2 / 3) ** 3)
    assert similarity("meteor", "a a b", "b a a") == pytest.approx(expected)


_JSON = st.recursive(st.none() | st.integers() | st.text(max_size=3),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3),
                     max_leaves=30)


def _depth(value):
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


@settings(max_examples=200, deadline=None)
@given(_JSON, st.integers(0, 8))
def test_the_depth_check_counts_nesting_levels(value, limit):
    from ftsim.pricing.dataset.reader import nested_deeper_than

    assert nested_deeper_than(value, limit) == (_depth(value) > limit)


def _nested_content(levels):
    content = "grade {{sample.output_text}}"
    for _ in range(levels):
        content = [content]
    return content


@pytest.mark.parametrize("levels", [400, 2000])
def test_deeply_nested_score_model_content_is_a_400(backend, tenant, levels):
    grader = {"type": "score_model", "name": "s", "model": "gpt-4.1-mini",
              "input": [{"role": "user", "content": _nested_content(levels)}]}
    for call in (lambda: backend.graders.validate(tenant, grader=grader), lambda: run(backend, tenant, grader, "x")):
        with pytest.raises(BadRequestError, match="nests more than 32 levels") as info:
            call()
        assert info.value.param == "grader"


def test_deeply_nested_multi_is_a_400(backend, tenant):
    grader = check("eq", "a", "a")
    for i in range(450):
        grader = {"type": "multi", "name": f"m{i}", "graders": {"g": grader}, "calculate_output": "g"}
    with pytest.raises(BadRequestError, match="nests more than"):
        backend.graders.validate(tenant, grader=grader)


def test_a_grader_at_the_depth_limit_is_accepted(backend, tenant):
    from ftsim.simulator.graders.graders import MAX_GRADER_DEPTH

    # grader(1) > input list(2) > message(3) > content lists (4..)
    grader = {"type": "score_model", "name": "s", "model": "gpt-4.1-mini",
              "input": [{"role": "user", "content": _nested_content(MAX_GRADER_DEPTH - 3)}]}
    assert run(backend, tenant, grader, "x").metadata.errors == ERROR_FLAGS
    grader["input"][0]["content"] = [grader["input"][0]["content"]]
    with pytest.raises(BadRequestError):
        run(backend, tenant, grader, "x")


def test_deep_items_and_long_samples_are_400s(backend, tenant):
    from ftsim.simulator.graders.graders import MAX_ITEM_DEPTH, MAX_SAMPLE_CHARS

    deep: object = "x"
    for _ in range(MAX_ITEM_DEPTH + 1):
        deep = [deep]
    with pytest.raises(BadRequestError) as info:
        run(backend, tenant, check("eq"), "x", {"answer": deep})
    assert info.value.param == "item"
    with pytest.raises(BadRequestError) as info:
        run(backend, tenant, check("eq"), "x" * (MAX_SAMPLE_CHARS + 1), {"answer": "x"})
    assert info.value.param == "model_sample"
    assert run(backend, tenant, check("like"), "x" * MAX_SAMPLE_CHARS, {"answer": "x"}).reward == 1.0


@pytest.mark.parametrize("metric", ["fuzzy_match", "rouge_l", "meteor"])
def test_text_similarity_sides_are_capped(backend, tenant, metric):
    from ftsim.simulator.graders.metrics import MAX_METRIC_CHARS

    # The cap is what bounds the quadratic metrics (make bench, graders, times them at the cap).
    assert MAX_METRIC_CHARS <= 32_768
    grader = {"type": "text_similarity", "name": "t", "input": "{{sample.output_text}}", "reference": "{{item.ref}}",
              "evaluation_metric": metric}
    ok = run(backend, tenant, grader, "ab " * (MAX_METRIC_CHARS // 3), {"ref": "ab"})
    assert 0 < ok.reward < 1
    with pytest.raises(BadRequestError, match="at most 32768 characters per side") as info:
        run(backend, tenant, grader, "ab " * (MAX_METRIC_CHARS // 3 + 1), {"ref": "ab"})
    assert info.value.param == "grader"


def test_rendered_templates_are_capped(backend, tenant):
    from ftsim.simulator.graders.graders import MAX_RENDERED_CHARS

    # 64 copies of a 5,000-character item value: 320,000 characters, from a small grader and item
    grader = check("eq", "{{item.a}}" * 64, "x")
    with pytest.raises(BadRequestError, match="fills in more than"):
        run(backend, tenant, grader, "x", {"a": "y" * 5000})
    assert MAX_RENDERED_CHARS < 64 * 5000
