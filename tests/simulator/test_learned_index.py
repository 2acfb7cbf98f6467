"""The learned index on its own (simulator/inference/learned.py): open-ended inputs never break it, and it is pure."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from ftsim.simulator.inference.learned import Example, Learned, Reply, base_reply_json, entity_spans, few_shot, shape

_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80)
_answer = st.one_of(_text, st.dictionaries(st.sampled_from(["sku", "id", "label"]),
                                           st.one_of(_text, st.integers(), st.booleans(), st.none()),
                                           min_size=1, max_size=3).map(json.dumps))


@settings(max_examples=60, deadline=None)
@given(pairs=st.lists(st.tuples(_text, _answer), min_size=1, max_size=12), query=_text)
def test_any_data_and_prompt_give_a_deterministic_answer(pairs, query):
    def build():
        return Learned([Example(conv=(("user", p),), reply=Reply(text=a)) for p, a in pairs])

    conv = (("user", query),)
    first, second = build().answer(conv), build().answer(conv)
    assert first == second and first is not None and isinstance(first.text, str)


_ID = r"[A-Z]{2,4}-[0-9]{3,6}|#[0-9]{2,8}|[0-9]{4}-[0-9]{2}-[0-9]{2}"


@given(span=st.from_regex(_ID, fullmatch=True), digits=st.from_regex(r"[0-9]{2,8}", fullmatch=True))
def test_a_span_is_found_by_its_shape(span, digits):
    import re

    assert span in entity_spans(f"the value is {span} here.")
    found = re.search(shape(span, strict=False), f"see {span}, please")
    assert found is not None and found.group() == span
    # another span of the same shape (other digits) is found too, and a longer token is not cut
    other = re.sub(r"[0-9]+", digits, span)
    assert re.search(shape(span, strict=True), f"see {other}, please").group() == other
    assert re.search(shape(span, strict=True), f"see {other}X7, please") is None


def test_names_dates_and_ids_are_copied_but_sentence_words_are_not():
    assert entity_spans("Hello Maria Lopez! Your order #4411 ships on March 5, 2025.") == [
        "Maria Lopez", "#4411", "March 5, 2025"]
    assert entity_spans("The answer is yes. Thanks") == []


def test_few_shot_needs_two_pairs_and_answers_from_them():
    conv = (("user", "apple"), ("assistant", "fruit"), ("user", "carrot"), ("assistant", "vegetable"),
            ("user", "apple pie"))
    assert few_shot(conv).answer(conv).text == "fruit"
    assert few_shot(conv[2:]) is None


def test_base_model_json_only_when_the_prompt_asks_for_it():
    assert base_reply_json((("user", "hello"),), "words") is None
    assert json.loads(base_reply_json((("user", "reply in json"),), "words")) == {"response": "words"}


def test_a_long_system_prompt_does_not_hide_the_question():
    system = ("system", "You are a meticulous assistant. " * 300)
    rows = [("red apple", "fruit"), ("green pear", "fruit"), ("orange carrot", "vegetable"), ("leek soup", "vegetable"),
            ("ripe apple", "fruit"), ("carrot cake", "vegetable")]
    learned = Learned([Example(conv=(system, ("user", q)), reply=Reply(text=a)) for q, a in rows])
    assert learned.answer((system, ("user", "an apple a day"))).text == "fruit"
    assert learned.answer((system, ("user", "carrot juice"))).text == "vegetable"
