"""The console keeps tenants apart ("one tenant's input never affects another tenant"): a console session is its
API key, and it shows and acts on only the accounts that key reaches through the API's own doors (its OpenAI
organization, its Azure account); a visitor who has not given a key learns nothing about any tenant.

The world: a keys file with two OpenAI organizations and two Azure accounts (one with two keys), each with a file,
a job, and for Contoso a tuned model, a deployment and a job still training. Every check runs with strict keys
(`--strict-keys`) and without."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ftsim.api.http.app import create_app
from ftsim.api.http.console.routes import ACCOUNT_COOKIE, KEY_COOKIE, SIM_COOKIE, run_every_job
from ftsim.simulator.core.backend import Backend, SimConfig
from ftsim.simulator.core.tenancy import azure_tenant, tenant_from_spec
from tests.api.test_console import ALICE, BOB, PAGES, _rows

CONTOSO, CONTOSO_2, FABRIKAM = "sk-contoso-0000001", "sk-contoso-0000002", "sk-fabrikam-000001"
KEYS = {ALICE: {"org_id": "org-alice"}, BOB: {"org_id": "org-bob"},
        CONTOSO: {"org_id": "azure-contoso", "org_slug": "contoso"}, CONTOSO_2: {"org_id": "azure-contoso"},
        FABRIKAM: {"org_id": "azure-fabrikam"}}
AZURE_MODEL, OPENAI_MODEL = "gpt-4.1-mini-2025-04-14", "gpt-4o-mini-2024-07-18"
ARM = ("https://management.azure.com/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/"
       "accounts/contoso/deployments")
ARM_VERSION = "?api-version=2024-10-21"


@dataclass
class World:
    backend: Backend
    app: object
    strict: bool
    contoso_file: str
    contoso_done: str  # a succeeded job
    contoso_live: str  # a job still training (the actions' target)
    contoso_model: str
    bob_file: str
    bob_job: str
    bob_model: str

    def console(self, key: str | None = None, **headers: str) -> TestClient:
        client = TestClient(self.app, raise_server_exceptions=False, headers=headers)
        if key is not None:
            client.cookies.set(KEY_COOKIE, key)
        return client

    def azure(self, key: str = CONTOSO) -> TestClient:
        return TestClient(self.app, headers={"api-key": key})

    def secrets(self) -> list[str]:
        """What no page may show anyone but its owners: tenants' names, keys, objects."""
        return ["org-alice", "org-bob", "azure-contoso", "azure-fabrikam", ALICE, BOB, CONTOSO, CONTOSO_2, FABRIKAM,
                "contoso-train.jsonl", "bob-train.jsonl", self.contoso_file, self.contoso_done, self.contoso_live,
                self.contoso_model, "contoso-bot", self.bob_file, self.bob_job, self.bob_model]

    def contoso_secrets(self) -> list[str]:
        return ["azure-contoso", CONTOSO, CONTOSO_2, "contoso-train.jsonl", self.contoso_file, self.contoso_done,
                self.contoso_live, self.contoso_model, "contoso-bot"]

    def bob_secrets(self) -> list[str]:
        return ["org-bob", BOB, "bob-train.jsonl", self.bob_file, self.bob_job, self.bob_model]

    def contoso_status(self) -> str:
        return self.azure().get(f"/openai/v1/fine_tuning/jobs/{self.contoso_live}").json()["status"]

    def contoso_deployments(self) -> list[str]:
        return [d["name"] for d in self.azure().get(ARM + ARM_VERSION).json()["value"]]

    def contoso_models(self) -> set[str]:
        account = azure_tenant(self.backend.tenancy, CONTOSO)
        return {m["id"] for m in self.backend.models.list(account)["data"]}

    def contoso_files(self) -> set[str]:
        return {f["id"] for f in self.azure().get("/openai/v1/files").json()["data"]}


def _build(strict: bool) -> World:
    backend = Backend(config=SimConfig(keys={k: tenant_from_spec(v) for k, v in KEYS.items()}, strict_keys=strict))
    app = create_app(backend)
    azure = TestClient(app, headers={"api-key": CONTOSO})
    f = azure.post("/openai/v1/files", files={"file": ("contoso-train.jsonl", _rows(12))},
                   data={"purpose": "fine-tune"}).json()["id"]
    done = azure.post("/openai/v1/fine_tuning/jobs", json={"model": AZURE_MODEL, "training_file": f,
                                                            "trainingType": "GlobalStandard"}).json()["id"]
    bob = TestClient(app, headers={"Authorization": f"Bearer {BOB}"})
    bob_file = bob.post("/v1/files", files={"file": ("bob-train.jsonl", _rows(12))},
                        data={"purpose": "fine-tune"}).json()["id"]
    bob_job = bob.post("/v1/fine_tuning/jobs", json={"model": OPENAI_MODEL, "training_file": bob_file}).json()["id"]
    run_every_job(backend)
    model = azure.get(f"/openai/v1/fine_tuning/jobs/{done}").json()["fine_tuned_model"]
    bob_model = bob.get(f"/v1/fine_tuning/jobs/{bob_job}").json()["fine_tuned_model"]
    assert model and bob_model
    arm = TestClient(app, base_url="https://management.azure.com", headers={"api-key": CONTOSO})
    body = {"sku": {"name": "Standard", "capacity": 1},
            "properties": {"model": {"format": "OpenAI", "name": model, "version": "1"}}}
    assert arm.put(f"{ARM}/contoso-bot{ARM_VERSION}", json=body).status_code == 201
    live = azure.post("/openai/v1/fine_tuning/jobs", json={"model": AZURE_MODEL, "training_file": f,
                                                            "trainingType": "GlobalStandard"}).json()["id"]
    backend.advance(60)
    world = World(backend, app, strict, f, done, live, model, bob_file, bob_job, bob_model)
    assert world.contoso_status() in ("running", "pending")
    return world


@pytest.fixture(params=[True, False], ids=["strict", "open"])
def world(request):
    w = _build(request.param)
    yield w
    w.backend.close()


def _page(resp) -> str:
    """A console answer: HTML, never a 5xx."""
    assert resp.status_code < 500, resp.text
    assert resp.headers["content-type"].startswith("text/html"), resp.text
    return resp.text


def _shows_none(text: str, secrets: list[str], where: str, given: str | None = None) -> None:
    """`text` shows none of `secrets` but those the request itself gave (`given`, by default `where`: its path and
    form): a not-found page may say which id it did not find."""
    given = where if given is None else given
    shown = [s for s in secrets if s in text and s not in given]
    assert not shown, f"{where} shows {shown}"


def _options(page: str) -> list[str]:
    import re

    form = re.search(r'<form class="switch".*?</form>', page, re.S)
    return re.findall(r'<option value="([^"]+)"', form.group(0)) if form else []


def _all_reads(world: World) -> list[str]:
    """Every console address that reads a tenant's state, with the world's ids (its own and others')."""
    return PAGES + [
        "/console/jobs/rows", "/console/azure/deployments/rows", "/console/clock", "/console/key",
        f"/console/jobs/{world.contoso_done}", f"/console/jobs/{world.contoso_live}/live",
        f"/console/jobs/{world.bob_job}", f"/console/jobs/{world.bob_job}/live",
        f"/console/files/{world.contoso_file}", f"/console/files/{world.bob_file}",
        f"/console/planner/estimate?file_id={world.contoso_file}", f"/console/planner/estimate?file_id={world.bob_file}",
        f"/console/jobs?q={world.contoso_done}", "/console/nowhere", "/console/static/nothing", "/docs",
    ]


def _all_writes(world: World) -> list[tuple[str, dict[str, str]]]:
    """Every console action, aimed at other tenants' objects (Contoso's and Bob's)."""
    return [
        (f"/console/jobs/{world.contoso_live}/pause", {}), (f"/console/jobs/{world.contoso_live}/cancel", {}),
        (f"/console/jobs/{world.contoso_live}/fail", {"step": "1"}), (f"/console/jobs/{world.bob_job}/cancel", {}),
        (f"/console/models/{world.contoso_model}/delete", {}), (f"/console/models/{world.bob_model}/delete", {}),
        ("/console/azure/deployments/contoso-bot/delete", {}), ("/console/faults", {"preset": "slow"}),
    ]


def _untouched(world: World, before: dict[str, object]) -> None:
    assert world.contoso_status() in ("running", "pending")
    assert world.contoso_deployments() == ["contoso-bot"]
    assert world.contoso_model in world.contoso_models()
    assert world.contoso_files() == before["files"]
    assert world.backend.faults.list(api_key=CONTOSO) == [] and world.backend.faults.list(api_key=BOB) == []
    bob = world.backend.tenant(BOB)
    assert world.bob_model in {m["id"] for m in world.backend.models.list(bob)["data"]}
    assert world.backend.jobs.retrieve(bob, world.bob_job).status == "succeeded"


def _upload(client: TestClient) -> None:
    resp = client.post("/console/planner/estimate", files={"file": ("planted.jsonl", _rows(3))},
                       follow_redirects=False)
    assert resp.status_code == 303 or resp.status_code < 500 and resp.headers["content-type"].startswith("text/html")


# -- who may switch to which account ------------------------------------------------------------------------------


def test_the_switch_offers_only_the_accounts_the_key_reaches_through_the_api(world):
    alice = world.console(ALICE)
    page = _page(alice.get("/console/jobs"))
    own_azure = azure_tenant(world.backend.tenancy, ALICE)
    # strict keys: Alice's key reaches no Azure account (the Azure door answers it 401); else the one of her key
    assert _options(page) == (["openai"] if world.strict else ["openai", "azure"])
    assert own_azure is None if world.strict else own_azure.org_id in page
    for path in _all_reads(world):
        _shows_none(_page(alice.get(path)), world.contoso_secrets() + world.bob_secrets() + ["azure-fabrikam"], path)
    for account in ("azure-contoso", "azure-fabrikam", "org-bob", "azure-nope"):
        refused = alice.post("/console/account", data={"account": account})
        assert refused.status_code == 400 and ACCOUNT_COOKIE not in alice.cookies, account


def test_a_forged_account_cookie_reads_and_writes_no_other_account(world):
    """The switch's cookie is the browser's to set: naming another tenant's Azure account in it opens nothing."""
    before = {"files": world.contoso_files()}
    for forged in ("azure-contoso", "azure-fabrikam", "org-bob", "azure", "openai-x"):
        alice = world.console(ALICE)
        alice.cookies.set(ACCOUNT_COOKIE, forged)
        for path in _all_reads(world):
            _shows_none(_page(alice.get(path)), world.contoso_secrets() + world.bob_secrets(), f"{forged} {path}",
                        given=path)
        for path, data in _all_writes(world):
            _shows_none(_page(alice.post(path, data=data)), world.contoso_secrets() + world.bob_secrets(),
                        f"{forged} {path}", given=f"{path} {data}")
        _upload(alice)
        _untouched(world, before)
        if forged != "azure" or world.strict:  # in the open world "azure" is Alice's own account
            assert alice.get("/console/jobs").status_code == 404


def test_other_tenants_ids_in_forms_and_urls_are_not_found(world):
    """From her own organization (and, in the open world, her own Azure account), another tenant's job, file,
    model and deployment answer 404 pages, and nothing of theirs changes."""
    before = {"files": world.contoso_files()}
    for account in ("openai",) if world.strict else ("openai", "azure"):
        alice = world.console(ALICE)
        alice.cookies.set(ACCOUNT_COOKIE, account)
        for path in (f"/console/jobs/{world.contoso_live}", f"/console/jobs/{world.bob_job}/live",
                     f"/console/files/{world.contoso_file}", f"/console/files/{world.bob_file}",
                     f"/console/planner/estimate?file_id={world.contoso_file}",
                     f"/console/planner/estimate?file_id={world.bob_file}"):
            assert alice.get(path).status_code == 404, (account, path)
        for path, data in _all_writes(world):
            resp = alice.post(path, data=data)
            if path == "/console/faults":
                assert resp.status_code == 200  # her own rule, scoped to her key
                continue
            if path.endswith("/azure/deployments/contoso-bot/delete") and world.strict:
                assert resp.status_code == 404 and "No Azure account" in resp.text
                continue
            assert resp.status_code == 404, (account, path, resp.text)
        _upload(alice)
        _untouched(world, before)
        assert [r for r in world.backend.faults.list(api_key=ALICE)]  # her rules are hers


def test_an_azure_accounts_own_keys_show_it_and_act_on_it(world):
    """A keys file's Azure account is owned by the keys the file maps to it: each signs in to it (strict keys
    too), and the other account's key does not."""
    contoso = world.console()
    resp = contoso.post("/console/key", data={"api_key": CONTOSO_2}, follow_redirects=False)
    assert resp.status_code == 303
    page = _page(contoso.get("/console/jobs"))
    assert _options(page) == (["azure"] if world.strict else ["openai", "azure"])
    contoso.cookies.set(ACCOUNT_COOKIE, "azure")
    page = _page(contoso.get("/console/jobs"))
    assert 'Azure account <strong id="tenant">azure-contoso</strong>' in page
    assert world.contoso_done in page and world.contoso_live in page
    assert "contoso-train.jsonl" in _page(contoso.get("/console/files"))
    assert world.contoso_model in _page(contoso.get("/console/models"))
    assert "contoso-bot" in _page(contoso.get("/console/azure/deployments"))
    _shows_none(page, world.bob_secrets() + ["azure-fabrikam", CONTOSO, CONTOSO_2], "contoso's jobs")
    assert contoso.post(f"/console/jobs/{world.contoso_live}/pause").status_code == 200
    assert world.contoso_status() == "paused"

    fabrikam = world.console(FABRIKAM)
    fabrikam.cookies.set(ACCOUNT_COOKIE, "azure")
    page = _page(fabrikam.get("/console/jobs"))
    assert 'Azure account <strong id="tenant">azure-fabrikam</strong>' in page
    _shows_none(page, world.contoso_secrets(), "fabrikam's jobs")
    assert fabrikam.get(f"/console/jobs/{world.contoso_live}").status_code == 404
    assert fabrikam.post(f"/console/jobs/{world.contoso_live}/resume").status_code == 404
    assert fabrikam.post("/console/azure/deployments/contoso-bot/delete").status_code == 404
    assert world.contoso_status() == "paused" and world.contoso_deployments() == ["contoso-bot"]


def test_with_strict_keys_an_azure_key_starts_on_its_account():
    """(The open world gives every key an OpenAI organization of its own too, shown first.)"""
    world = _build(strict=True)
    try:
        contoso = world.console(CONTOSO)
        page = _page(contoso.get("/console/jobs"))
        assert 'Azure account <strong id="tenant">azure-contoso</strong>' in page and world.contoso_live in page
        contoso.cookies.set(ACCOUNT_COOKIE, "openai")  # the key names no OpenAI organization here
        resp = contoso.get("/console/jobs")
        assert resp.status_code == 404 and world.contoso_live not in resp.text
        assert "choose the key again" in resp.text
    finally:
        world.backend.close()


# -- what a visitor without a key sees ----------------------------------------------------------------------------


@pytest.mark.parametrize("sim_key", [None, "sim-secret"], ids=["loopback", "sim-key"])
def test_a_visitor_without_a_key_sees_nothing_of_any_tenant(world, sim_key):
    app = create_app(world.backend, sim_key=sim_key)
    before = {"files": world.contoso_files()}
    visitors = [TestClient(app, raise_server_exceptions=False)]
    stranger = TestClient(app, raise_server_exceptions=False)
    stranger.cookies.set(KEY_COOKIE, "sk-not-listed-00001")
    stranger.cookies.set(ACCOUNT_COOKIE, "azure-contoso")
    visitors.append(stranger)
    if sim_key:  # the operator's sim key alone proves no tenant's key
        operator = TestClient(app, raise_server_exceptions=False)
        operator.cookies.set(SIM_COOKIE, sim_key)
        operator.cookies.set(ACCOUNT_COOKIE, "azure-contoso")
        visitors.append(operator)
    for visitor in visitors:
        for path in _all_reads(world):
            _shows_none(_page(visitor.get(path)), world.secrets(), path)
        for path, data in _all_writes(world):
            _shows_none(_page(visitor.post(path, data=data)), world.secrets(), f"{path} {data}")
        for account in ("azure-contoso", "azure"):
            _shows_none(_page(visitor.post("/console/account", data={"account": account})), world.secrets(),
                        account)
        _upload(visitor)
    _untouched(world, before)


def test_the_key_page_lists_no_organization_and_signs_in_only_with_a_key(world):
    visitor = world.console()
    page = _page(visitor.get("/console/key"))
    _shows_none(page, world.secrets(), "the key page")
    assert '<select id="org"' not in page
    for org in ("org-bob", "azure-contoso"):  # naming an organization is not proving its key
        resp = visitor.post("/console/key", data={"org": org, "api_key": ""}, follow_redirects=False)
        assert resp.status_code == 400 and KEY_COOKIE not in visitor.cookies
        _shows_none(_page(resp), world.secrets(), "the refused key page")
    assert visitor.get("/console/jobs").status_code == 401


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(account=st.sampled_from(["azure-contoso", "azure-fabrikam", "org-bob", "org-alice", "openai", "azure"])
       | st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=';,"\\'),
                 max_size=30))
def test_any_account_cookie_shows_only_the_keys_own_accounts(world, account):
    alice = world.console(ALICE)
    alice.cookies.set(ACCOUNT_COOKIE, account)
    for path in ("/console/jobs", "/console/files", "/console/models", "/console/azure/deployments"):
        resp = alice.get(path)
        _shows_none(_page(resp), world.contoso_secrets() + world.bob_secrets(), f"{account} {path}", given=path)
        if resp.status_code == 200:
            owned = {"", "openai"} | (set() if world.strict else {"azure"})
            assert account in owned, (account, path)


# -- fault rules of two keys of one organization ----------------------------------------------------------------


def test_a_colleagues_fault_rule_on_their_azure_account_is_neither_shown_nor_deleted():
    """Two keys of one organization share it, not their Azure accounts: a rule Alice adds in the console is scoped
    to her key (her organization and her Azure account), so Bob's console neither lists it (it would show the id
    of Alice's Azure job) nor deletes it (it would change Alice's Azure account). His own rules are his."""
    keys = {ALICE: tenant_from_spec({"org_id": "org-acme"}), BOB: tenant_from_spec({"org_id": "org-acme"})}
    backend = Backend(config=SimConfig(keys=keys))
    try:
        app = create_app(backend)
        azure = TestClient(app, headers={"api-key": ALICE})
        f = azure.post("/openai/v1/files", files={"file": ("a.jsonl", _rows(12))},
                       data={"purpose": "fine-tune"}).json()["id"]
        job = azure.post("/openai/v1/fine_tuning/jobs", json={"model": AZURE_MODEL, "training_file": f,
                                                               "trainingType": "GlobalStandard"}).json()["id"]
        alice = TestClient(app, raise_server_exceptions=False)
        alice.cookies.set(KEY_COOKIE, ALICE)
        alice.cookies.set(ACCOUNT_COOKIE, "azure")
        assert "fails at step 2" in _page(alice.post(f"/console/jobs/{job}/fail", data={"step": "2"}))
        (rule,) = backend.faults.list(api_key=ALICE)
        assert job in _page(alice.get("/console/faults")) and rule.id in alice.get("/console/faults").text
        for view in ("openai", "azure"):
            bob = TestClient(app, raise_server_exceptions=False)
            bob.cookies.set(KEY_COOKIE, BOB)
            bob.cookies.set(ACCOUNT_COOKIE, view)
            page = _page(bob.get("/console/faults"))
            assert job not in page and rule.id not in page, view
            assert bob.post(f"/console/faults/{rule.id}/delete").status_code == 404, view
            assert backend.faults.list(api_key=ALICE) == [rule]
            added = _page(bob.post("/console/faults", data={"preset": "slow"}))
            (own,) = [r for r in backend.faults.list(owned_by=BOB)]
            assert own.id in added and bob.post(f"/console/faults/{own.id}/delete").status_code == 200
        assert rule.id in alice.get("/console/faults").text
    finally:
        backend.close()


def test_rules_owned_by_a_key_are_those_touching_only_its_own_tenants():
    keys = {ALICE: tenant_from_spec({"org_id": "org-acme"}), BOB: tenant_from_spec({"org_id": "org-acme"}),
            CONTOSO: tenant_from_spec({"org_id": "azure-contoso"}),
            CONTOSO_2: tenant_from_spec({"org_id": "azure-contoso"})}
    for strict in (False, True):
        backend = Backend(config=SimConfig(keys=keys, strict_keys=strict))
        try:
            faults = backend.faults
            everyone = faults.add("slow")  # the operator's rule, for every tenant: no key's
            alices, bobs = faults.add("slow", api_key=ALICE), faults.add("slow", api_key=BOB)
            contosos = faults.add("slow", api_key=CONTOSO)
            # strict keys: Alice's and Bob's keys reach their shared organization only, so their rules touch it alone
            shared = [alices.id, bobs.id]
            assert [r.id for r in faults.list(owned_by=ALICE)] == (shared if strict else [alices.id])
            assert [r.id for r in faults.list(owned_by=BOB)] == (shared if strict else [bobs.id])
            assert [r.id for r in faults.list(owned_by=CONTOSO)] == [contosos.id]
            assert faults.list(owned_by=CONTOSO_2) == []  # its own OpenAI side is not Contoso's first key's
            assert {r.id for r in faults.list(api_key=ALICE)} == {alices.id, bobs.id}  # /_sim's view: unchanged
            assert everyone.id in {r.id for r in faults.list()}
        finally:
            backend.close()
