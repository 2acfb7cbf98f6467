"""Clock, ids and tenancy: the injected, seeded foundations of the simulated world."""

from __future__ import annotations

import json

import pytest

from ftsim.simulator.core.clock import DEFAULT_START, ManualClock, ScaledClock
from ftsim.simulator.core.ids import IdMinter
from ftsim.simulator.core.tenancy import Tenancy, load_keys


def test_manual_clock_moves_only_when_told():
    c = ManualClock()
    assert c.now() == DEFAULT_START
    assert c.advance(90.5) == DEFAULT_START + 90
    with pytest.raises(ValueError):
        c.advance(-1)
    c.set(DEFAULT_START - 100)  # never backwards
    assert c.now() == DEFAULT_START + 90


def test_scaled_clock_runs_at_speed_and_accepts_jumps():
    real = [1000.0]
    c = ScaledClock(start=5000, speed=60, real=lambda: real[0])
    assert c.now() == 5000
    real[0] += 2
    assert c.now() == 5120
    assert c.advance(30) == 5150
    c.set(10_000)
    assert c.now() == 10_000
    c.set(1)  # behind: ignored
    assert c.now() == 10_000


def test_ids_are_seeded_and_resume_from_counter():
    a, b = IdMinter(seed=1), IdMinter(seed=1)
    first = [a.new("ftjob-") for _ in range(3)]
    assert first == [b.new("ftjob-") for _ in range(3)]
    assert IdMinter(seed=2).new("ftjob-") != first[0]
    resumed = IdMinter(seed=1, counter=2)
    assert resumed.new("ftjob-") == first[2]
    assert len(first[0]) == len("ftjob-") + 24 and first[0][6:].isalnum()


def test_each_key_is_its_own_org_and_stable():
    t = Tenancy()
    a1, a2, b = t.resolve("sk-a"), t.resolve("sk-a"), t.resolve("sk-b")
    assert a1 == a2 and a1.key != b.key
    assert a1.org_id.startswith("org-") and a1.org_slug == "personal"


def test_keys_file_maps_keys_to_shared_org(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"k1": {"org_id": "org-acme", "org_slug": "acme", "project_id": "proj_a"},
                                "k2": {"org_id": "org-acme"}}))
    t = Tenancy(load_keys(path))
    assert t.resolve("k1").key == t.resolve("k2").key == "org-acme"
    assert t.resolve("k1").org_slug == "acme" and t.resolve("k2").project_id == "proj_default"


@pytest.mark.parametrize("content", ["not json", "[1]", '{"k": {"slug": "x"}}'])
def test_bad_keys_file_is_a_clear_error(tmp_path, content):
    path = tmp_path / "keys.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="keys file"):
        load_keys(path)
