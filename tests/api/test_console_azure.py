"""The console's Azure side (issue 17): the compare form's provider, Azure and lifecycle inputs, and the page of
the key's Azure deployments (state on the simulated clock, the tuned model, delete; tenant isolation)."""

from __future__ import annotations

import io
import re

import pytest
from starlette.testclient import TestClient

from ftsim.api.http.app import create_app
from ftsim.api.testing.simulator import Simulator
from ftsim.pricing.planning.compare import CompareInput, compare, compare_providers
from tests.api.test_console import ALICE, BOB, _login, _rows, backend_today

QUERY = {"model": "gpt-4.1-mini-2025-04-14", "calls_per_month": "100000", "system_prompt_tokens": "2000",
         "tuned_system_prompt_tokens": "0", "input_tokens": "200", "output_tokens": "150",
         "training_tokens": "1000000", "months": "12"}
ARM = ("/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.CognitiveServices/accounts/contoso/"
       "deployments")
ARM_VERSION = "?api-version=2024-10-21"


@pytest.fixture
def client(backend):
    return _login(TestClient(create_app(backend)))


def _verdict(text: str, suffix: str = "") -> str:
    return re.search(rf'<strong id="verdict{suffix}" class="([a-z_]+)">', text).group(1)


def _amount(text: str, label: str) -> str:
    return re.search(rf"<dt>{label}</dt><dd>([^<]+)</dd>", text).group(1)


# -- compare ---------------------------------------------------------------------------------------------------


def test_the_compare_form_has_the_provider_azure_and_lifecycle_inputs(client):
    page = client.get("/console/planner/compare").text
    for name in ("provider", "azure_tier", "hosting_region", "deployments", "azure_existing_customer", "today",
                 "has_fine_tuned_before", "recent_fine_tuned_inference", "retrain_every", "after_shutdown_cost_usd"):
        assert f'<label for="{name}">' in page and f'id="{name}"' in page, name
    assert '<option value="both">' in page and '<option value="regional_sweden">' in page


@pytest.mark.parametrize("extra", [
    {"provider": "azure"},
    {"provider": "azure", "azure_tier": "developer"},
    {"provider": "azure", "deployments": "3", "hosting_region": "southeast_asia"},
    {"provider": "azure", "azure_existing_customer": "true", "today": "2027-06-01"},
    {"has_fine_tuned_before": "false", "recent_fine_tuned_inference": "false"},
    {"retrain_every": "3", "after_shutdown_cost_usd": "500"},
    {"today": "2030-01-01"},
])
def test_azure_and_lifecycle_inputs_give_the_planners_answer(client, backend, extra):
    page = client.get("/console/planner/compare", params=QUERY | extra)
    assert page.status_code == 200
    params = {**QUERY, **extra}
    params.setdefault("today", backend_today(backend))
    expected = compare(CompareInput.model_validate(params), catalog=backend.catalog)
    assert _verdict(page.text) == expected.verdict
    net = f"{expected.net_savings_over_horizon_usd.quantize(__import__('decimal').Decimal('0.01')):,}"
    assert _amount(page.text, "Net savings over the horizon") == f"${net}"
    if extra.get("provider") == "azure":
        assert "<dt>Hosting per month</dt>" in page.text
    for name, value in extra.items():  # the form keeps what was chosen
        control = re.search(rf'<select id="{name}"[^>]*>.*?</select>|<input[^>]* id="{name}"[^>]*>', page.text,
                            re.S).group(0)
        if control.startswith("<select"):
            assert f'<option value="{value}" selected>' in control, name
        elif 'type="checkbox"' in control:
            assert control.endswith(" checked>"), name
        else:
            assert f'value="{value}"' in control, name


def test_both_providers_side_by_side(client, backend):
    page = client.get("/console/planner/compare", params=QUERY | {"provider": "both"}, headers={"hx-request": "1"})
    assert page.status_code == 200 and "<html" not in page.text
    both = compare_providers(CompareInput.model_validate(QUERY | {"provider": "both",
                                                                  "today": backend_today(backend)}),
                             catalog=backend.catalog)
    for r in both.results:
        assert _verdict(page.text, "-" + r.provider) == r.verdict
        for chart in ("volume", "cumulative"):
            assert f'id="chart-{chart}-{r.provider}"' in page.text
    assert re.search(r'<strong id="best">([^<]+)</strong>', page.text).group(1) == both.best
    assert len(set(re.findall(r' id="([^"]+)"', page.text))) == len(re.findall(r' id="([^"]+)"', page.text))


def test_a_provider_without_the_model_is_said_unavailable_side_by_side(client, backend):
    def both(model: str):
        return compare_providers(CompareInput.model_validate(
            QUERY | {"model": model, "provider": "both", "today": backend_today(backend)}), catalog=backend.catalog)

    model, missing = next((e.snapshot, both(e.snapshot).unavailable) for e in backend.catalog.fine_tunable()
                          if e.training is not None and not e.hourly and both(e.snapshot).unavailable)
    page = client.get("/console/planner/compare", params=QUERY | {"model": model, "provider": "both"})
    assert page.status_code == 200
    for provider in missing:
        assert f'id="unavailable-{provider}"' in page.text and f'id="verdict-{provider}"' not in page.text


def test_bad_provider_inputs_are_said_on_the_page(client):
    for extra, field in (({"provider": "aws"}, "provider"), ({"azure_tier": "cheap"}, "azure_tier"),
                         ({"deployments": "0"}, "deployments"), ({"today": "someday"}, "today"),
                         ({"has_fine_tuned_before": "maybe"}, "has_fine_tuned_before")):
        page = client.get("/console/planner/compare", params=QUERY | extra)
        assert page.status_code == 200 and field in page.text and 'id="verdict' not in page.text, extra


# -- Azure deployments -----------------------------------------------------------------------------------------


def _deploy(sim: Simulator, key: str, name: str, sku: str = "Standard") -> str:
    """Tune a model in `key`'s Azure account and deploy it as `name`; the tuned model's name."""
    client = sim.azure_client(api_key=key)
    f = client.files.create(file=("train.jsonl", io.BytesIO(_rows(12))), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="gpt-4.1-mini-2025-04-14", training_file=f.id, suffix="bot",
                                         extra_body={"trainingType": "GlobalStandard"})
    model = sim.run_until_complete(job.id).fine_tuned_model
    arm = TestClient(sim.app, base_url="https://management.azure.com", headers={"api-key": key})
    body = {"sku": {"name": sku, "capacity": 1},
            "properties": {"model": {"format": "OpenAI", "name": model, "version": "1"}}}
    assert arm.put(f"{ARM}/{name}{ARM_VERSION}", json=body).status_code == 201
    return model


def test_the_azure_page_lists_the_keys_deployments_with_state_and_model_and_deletes():
    with Simulator(console=True) as sim:
        model = _deploy(sim, ALICE, "support-bot")
        console = _login(TestClient(sim.app))
        page = console.get("/console/azure/deployments")
        assert page.status_code == 200 and 'id="clock"' in page.text
        row = re.search(r'<tr><td><span class="mono">support-bot</span></td>(.*?)</tr>', page.text).group(1)
        assert '<span class="badge creating">Creating</span>' in row and model in row and "Standard" in row
        sim.advance(minutes=10)
        rows = console.get("/console/azure/deployments/rows").text
        assert "<html" not in rows and '<span class="badge succeeded">Succeeded</span>' in rows
        assert console.get("/console/models").text.count(model) == 0  # the OpenAI organization's models: apart
        gone = console.post("/console/azure/deployments/support-bot/delete")
        assert gone.status_code == 200 and "Deleted the deployment support-bot." in gone.text
        assert "support-bot</span>" not in gone.text
        arm = TestClient(sim.app, base_url="https://management.azure.com", headers={"api-key": ALICE})
        assert arm.get(ARM + ARM_VERSION).json()["value"] == []
        again = console.post("/console/azure/deployments/support-bot/delete")
        assert again.status_code == 404 and "No deployment support-bot" in again.text


def test_a_key_never_sees_or_deletes_another_accounts_deployments():
    with Simulator(console=True) as sim:
        _deploy(sim, ALICE, "alice-bot")
        bob = _login(TestClient(sim.app), BOB)
        assert "alice-bot" not in bob.get("/console/azure/deployments").text
        assert bob.post("/console/azure/deployments/alice-bot/delete").status_code == 404
        cross = _login(TestClient(sim.app)).post("/console/azure/deployments/alice-bot/delete",
                                                 headers={"origin": "http://evil.example"})
        assert cross.status_code == 403
        arm = TestClient(sim.app, base_url="https://management.azure.com", headers={"api-key": ALICE})
        assert [d["name"] for d in arm.get(ARM + ARM_VERSION).json()["value"]] == ["alice-bot"]


def test_a_developer_deployment_leaves_the_page_after_24_hours():
    with Simulator(console=True) as sim:
        _deploy(sim, ALICE, "dev-bot", sku="DeveloperTier")
        console = _login(TestClient(sim.app))
        assert "dev-bot</span>" in console.get("/console/azure/deployments").text
        sim.advance(hours=24)
        assert "dev-bot</span>" not in console.get("/console/azure/deployments").text


def test_the_test_kit_serves_the_console_only_when_asked():
    with Simulator() as sim:
        assert TestClient(sim.app).get("/console/jobs").status_code == 404
        assert sim.client().models.list().data is not None  # the API itself is served
    with Simulator(console=True) as sim:
        assert TestClient(sim.app).get("/console/jobs").status_code != 404
