"""Clock, ids and tenancy: the injected, seeded foundations of the simulated world."""

from __future__ import annotations

import json

import pytest

from ftsim.simulator.core.clock import DEFAULT_START, ManualClock, ScaledClock
from ftsim.simulator.core.ids import mint
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


def test_ids_are_seeded_by_counter_and_scope():
    first = [mint(1, "ftjob-", n) for n in (1, 2, 3)]
    assert first == [mint(1, "ftjob-", n) for n in (1, 2, 3)] and len(set(first)) == 3
    assert mint(2, "ftjob-", 1) != first[0]
    assert mint(1, "ftjob-", 1, scope="sk-a") != mint(1, "ftjob-", 1, scope="sk-b") != first[0]
    assert len(first[0]) == len("ftjob-") + 24 and first[0][6:].isalnum()
    assert mint(1, "upload_", 1, 32, hex=True)[7:] == mint(1, "", 1, 32, hex=True)
    assert all(c in "0123456789abcdef" for c in mint(1, "", 1, 32, hex=True))


def test_a_tenants_ids_resume_from_its_stored_counter(tmp_path):
    from ftsim.simulator.core.backend import Backend
    from ftsim.simulator.core.store import Store

    first = Backend(store=Store(tmp_path / "w.db"))
    with first.store.transaction():
        made = [first.new_id("ftjob-", tenant="sk-a") for _ in range(2)]
    first.close()
    again = Backend(store=Store(tmp_path / "w.db"))
    with again.store.transaction():
        assert again.new_id("ftjob-", tenant="sk-a") == mint(0, "ftjob-", 3, scope="sk-a") not in made
    again.close()


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
