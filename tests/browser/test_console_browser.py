"""The web console in a real browser (issue 17): Playwright drives the system Chromium against `ftsim serve`.

No browser is downloaded: Playwright launches `/usr/bin/chromium` (Debian's package; `make install` installs it).
Skipped, with the reason, when Chromium or the `playwright` package is missing.

The flow: choose a key, create a job with the openai SDK, watch it appear in the jobs table, advance the clock and
see the status change and the loss chart gain points, cancel a job from its page, add and delete a fault; every
main page passes axe-core's checks (vendored here: tests/browser/axe.min.js, axe-core 4.10.2, MPL-2.0) and is
reachable by keyboard. Screenshots of the main pages are taken on every run; with FTSIM_UPDATE_SCREENSHOTS=1 they
are written to docs/images/console-*.png (the README's "Console" section shows them).

Waits are Playwright's bounded waits for a state to appear (the page polls every 2 s), never speed assertions.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.reliability.server_proc import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "",
                             shutil.which("chromium-browser") or "") if p and os.path.exists(p)), None)
playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed "
                                                                    "(pip install -e '.[dev]')")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary: apt-get install -y chromium (make install "
                                                "does it) to run the console's browser tests"),
]

KEY = "sk-console-browser-0001"
MODEL = "gpt-4o-mini-2024-07-18"
WAIT = 15_000  # ms: a bound on each wait for the page to show a state (it refreshes every 2 s)
AXE = (Path(__file__).parent / "axe.min.js").read_text(encoding="utf-8")


def _rows(n: int = 20) -> bytes:
    return "\n".join(json.dumps({"messages": [{"role": "user", "content": f"question {i}"},
                                              {"role": "assistant", "content": f"answer {i}"}]})
                     for i in range(n)).encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("console") / "ftsim.db", speed=0.0).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    offsite: list[str] = []

    def route(r):  # the console must work offline: any request off this server is refused and recorded
        if r.request.url.startswith(server.base):
            return r.continue_()
        offsite.append(r.request.url)
        return r.abort()

    context.route("**/*", route)
    pg = context.new_page()
    pg.offsite = offsite  # type: ignore[attr-defined]
    yield pg
    context.close()


@pytest.fixture
def sdk(server):
    from openai import OpenAI

    with OpenAI(base_url=server.base + "/v1", api_key=KEY, max_retries=0) as client:
        yield client


def _shots_dir(tmp_path: Path) -> Path:
    if os.environ.get("FTSIM_UPDATE_SCREENSHOTS") == "1":
        out = ROOT / "docs" / "images"
        out.mkdir(parents=True, exist_ok=True)
        return out
    return tmp_path


def _shot(pg, folder: Path, name: str) -> None:
    path = folder / f"console-{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _login(pg, server) -> None:
    pg.goto(server.base + "/")
    assert pg.url.endswith("/console/key")
    pg.get_by_label("API key").fill(KEY)
    pg.get_by_role("button", name="Use this organization").click()
    pg.wait_for_url(re.compile(r".*/console/jobs$"))


def _loss_points(pg) -> int:
    return pg.evaluate("""() => [...document.querySelectorAll('svg#chart-loss polyline')]
        .reduce((n, p) => n + p.getAttribute('points').trim().split(/\\s+/).length, 0)""")


def _axe(pg) -> list[dict]:
    """axe-core's violations on the current page (WCAG A/AA rules)."""
    pg.add_script_tag(content=AXE)
    result = pg.evaluate("""async () => (await axe.run(document, {runOnly: {type: 'tag',
        values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})).violations
        .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))""")
    return result


def _new_job(sdk, suffix: str) -> str:
    file = sdk.files.create(file=("train.jsonl", io.BytesIO(_rows())), purpose="fine-tune")
    return sdk.fine_tuning.jobs.create(model=MODEL, training_file=file.id, suffix=suffix).id


def test_watch_a_job_run_from_the_jobs_page_to_its_loss_curve(page, server, sdk, tmp_path):
    shots = _shots_dir(tmp_path)
    _login(page, server)
    job_id = _new_job(sdk, "watched")
    row = page.locator("#jobs-table tr", has_text=job_id)
    row.wait_for(timeout=WAIT)  # the table refreshes by itself
    assert "validating files" in row.locator(".badge").inner_text()

    page.get_by_role("button", name="Advance 1 minute").click()
    page.locator("#jobs-table tr", has_text=job_id).locator(".badge.running").wait_for(timeout=WAIT)

    page.get_by_role("link", name=job_id).click()
    page.wait_for_url(re.compile(rf".*/console/jobs/{job_id}$"))
    page.locator("svg#chart-loss").wait_for(timeout=WAIT)
    before = _loss_points(page)
    assert before > 0
    page.get_by_role("button", name="Advance 1 hour").click()
    page.locator("#job-status .badge.succeeded").wait_for(timeout=WAIT)
    page.wait_for_function(f"() => document.querySelectorAll('svg#chart-loss polyline').length > 0 && "
                           f"[...document.querySelectorAll('svg#chart-loss polyline')].reduce((n, p) => n + "
                           f"p.getAttribute('points').trim().split(/\\s+/).length, 0) > {before}", timeout=WAIT)
    assert _loss_points(page) > before
    assert page.locator("svg#chart-accuracy").count() == 1
    assert page.locator("#checkpoints tbody tr").count() >= 1
    _shot(page, shots, "job")
    page.goto(server.base + "/console/jobs")
    page.locator("#jobs-table tr", has_text=job_id).locator(".badge.succeeded").wait_for(timeout=WAIT)
    _shot(page, shots, "jobs")
    assert page.offsite == []


def test_cancel_a_job_from_its_page(page, server, sdk):
    _login(page, server)
    job_id = _new_job(sdk, "cancelled")
    page.goto(f"{server.base}/console/jobs/{job_id}")
    page.get_by_role("button", name="Cancel job").click()
    page.locator("#job-status .badge.cancelled").wait_for(timeout=WAIT)
    assert sdk.fine_tuning.jobs.retrieve(job_id).status == "cancelled"
    assert page.offsite == []


def test_faults_models_files_pages_and_the_docs(page, server, sdk, tmp_path):
    shots = _shots_dir(tmp_path)
    _login(page, server)
    page.goto(server.base + "/console/faults")
    page.get_by_label("Preset").select_option("job_fails_midway")
    page.get_by_role("button", name="Add fault").click()
    rule = page.locator("#faults-table tbody tr", has_text="fails at step 3")
    rule.wait_for(timeout=WAIT)
    _shot(page, shots, "faults")
    rule.get_by_role("button").click()
    page.get_by_text("No fault rule for this organization.").wait_for(timeout=WAIT)

    _new_job(sdk, "listed")
    with page.expect_response(re.compile(r".*/console/clock/run$"), timeout=WAIT):  # done before the next page
        page.get_by_role("button", name="Run every job to the end").click()
    page.goto(server.base + "/console/models")
    assert page.locator("#models-table tbody tr", has_text="ft:").count() >= 1
    _shot(page, shots, "models")
    page.goto(server.base + "/console/files")
    assert page.locator("#files-table tbody tr", has_text="train.jsonl").count() >= 1
    _shot(page, shots, "files")
    page.locator("#files-table tbody tr", has_text="train.jsonl").first.get_by_role("link").click()
    page.get_by_role("heading", name="Validation and token statistics").wait_for(timeout=WAIT)
    assert "question 0" in page.locator("pre.preview").inner_text()
    assert _axe(page) == []
    _shot(page, shots, "file")

    page.goto(server.base + "/console/planner/estimate")
    page.get_by_label("Training file").select_option(index=1)
    page.locator("#estimate-cost").wait_for(timeout=WAIT)  # the result comes in as the form changes
    assert page.locator("#estimate-cost").inner_text().startswith("$")
    assert _axe(page) == []

    page.goto(server.base + "/docs")
    page.locator(".swagger-ui .opblock").first.wait_for(timeout=WAIT)
    page.goto(server.base + "/redoc")
    page.get_by_text("/v1/fine_tuning/jobs").first.wait_for(timeout=WAIT)
    # redoc's footer logo is its only outside address (cdn.redoc.ly): refused here, and the page still renders
    assert all("cdn.redoc.ly" in u for u in page.offsite), page.offsite


@pytest.mark.parametrize("path", ["/console/jobs", "/console/files", "/console/models", "/console/faults",
                                  "/console/planner/estimate", "/console/planner/compare", "/console/planner/decide",
                                  "/console/planner/whatif", "/console/azure/deployments",
                                  "/console/key"])
def test_pages_pass_axe_and_work_by_keyboard(page, server, sdk, path):
    _login(page, server)
    if path == "/console/jobs":
        _new_job(sdk, "a11y")
    page.goto(server.base + path)
    violations = _axe(page)
    assert violations == [], violations
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # every control is reachable with Tab (none has a negative tabindex) and has an accessible name (axe above)
    assert page.locator("button[tabindex^='-'], input[tabindex^='-'], select[tabindex^='-']").count() == 0


def test_a_job_page_passes_axe(page, server, sdk):
    _login(page, server)
    job_id = _new_job(sdk, "a11y-job")
    page.goto(f"{server.base}/console/jobs/{job_id}")
    page.get_by_role("button", name="Advance 1 hour").click()
    page.locator("#job-status .badge.succeeded").wait_for(timeout=WAIT)
    assert _axe(page) == []


def test_upload_a_training_file_and_a_scenario_from_the_browser(page, server, sdk, tmp_path):
    shots = _shots_dir(tmp_path)
    _login(page, server)
    page.goto(server.base + "/console/planner/estimate")
    page.get_by_label("Epochs").fill("2")
    dataset = tmp_path / "dropped.jsonl"
    dataset.write_bytes(_rows(40))
    page.get_by_label(re.compile("Or upload a new dataset")).set_input_files(str(dataset))
    page.get_by_role("button", name="Upload and estimate").click()
    page.locator("#upload-note", has_text="Uploaded dropped.jsonl as file-").wait_for(timeout=WAIT)
    assert page.locator("#estimate-cost").inner_text().startswith("$")
    picked = page.get_by_label("Training file").evaluate("s => s.options[s.selectedIndex].text")
    assert picked.startswith("dropped.jsonl (file-")
    assert page.get_by_label("Epochs").input_value() == "2"  # the picker's inputs went with the upload
    assert any(f.filename == "dropped.jsonl" for f in sdk.files.list())  # one of the organization's files now
    assert _axe(page) == []
    _shot(page, shots, "estimate")

    page.goto(server.base + "/console/planner/whatif")
    from ftsim.api.http.console.planner import WHATIF_EXAMPLE

    scenario = tmp_path / "bot.toml"
    scenario.write_text(WHATIF_EXAMPLE.replace("Support bot", "Uploaded bot"), encoding="utf-8")
    page.get_by_label(re.compile("Or drop a scenario file")).set_input_files(str(scenario))
    page.get_by_role("button", name="Run", exact=True).click()
    report = page.frame_locator("iframe#report")
    report.get_by_text("Uploaded bot").first.wait_for(timeout=WAIT)
    assert "Uploaded bot" in page.get_by_label(re.compile("^Scenario")).input_value()
    assert page.offsite == []


def test_fill_the_compare_form_and_read_the_verdict(page, server, tmp_path):
    shots = _shots_dir(tmp_path)
    _login(page, server)
    page.goto(server.base + "/console/planner/compare")
    assert page.locator("#verdict").inner_text() == "pays back"
    page.get_by_label("Calls per month").fill("10")  # the verdict follows the input, without a reload
    page.locator("#verdict.pays_back_after_horizon").wait_for(timeout=WAIT)
    page.get_by_label("Calls per month").fill("250000")
    page.locator("#verdict.pays_back").wait_for(timeout=WAIT)
    assert page.locator("#compare svg.chart").count() == 2
    assert _axe(page) == []
    _shot(page, shots, "compare")
    page.get_by_label("Provider").select_option("both")  # OpenAI and Azure OpenAI side by side
    page.locator("#verdict-azure").wait_for(timeout=WAIT)
    assert page.locator("#verdict-openai").count() == 1 and page.locator("#compare svg.chart").count() == 4
    page.get_by_label("Azure hosting rate").select_option("southeast_asia")
    page.get_by_label("Azure: fine-tuned deployments kept").fill("3")
    page.locator("#verdict-azure.never_pays_back").wait_for(timeout=WAIT)  # three deployments' hosting
    assert _axe(page) == []
    assert page.offsite == []


def test_the_azure_account_its_jobs_and_its_deployments(page, server, tmp_path):
    import httpx
    from openai import AzureOpenAI

    shots = _shots_dir(tmp_path)
    azure = AzureOpenAI(azure_endpoint=server.base, api_key=KEY, api_version="2025-04-01-preview", max_retries=0)
    file = azure.files.create(file=("train.jsonl", io.BytesIO(_rows())), purpose="fine-tune")
    job = azure.fine_tuning.jobs.create(model="gpt-4.1-mini-2025-04-14", training_file=file.id, suffix="bot",
                                        extra_body={"trainingType": "GlobalStandard"})
    _login(page, server)
    # the header's switch shows the key's Azure account: its jobs as Azure answers them, and its bill
    page.get_by_label("Account", exact=True).select_option("azure")
    page.get_by_role("button", name="Switch").click()
    page.wait_for_url(re.compile(r".*/console/jobs$"))
    page.get_by_role("heading", name="Azure fine-tuning jobs").wait_for(timeout=WAIT)
    row = page.locator("#jobs-table tbody tr", has_text=job.id)
    row.locator(".badge.pending").wait_for(timeout=WAIT)
    assert page.locator("#jobs-table tbody tr", has_text=re.compile(r"ftjob-[A-Za-z0-9]{24}\b")).count() == 0
    assert page.locator("#azure-bill").inner_text().startswith("Azure bill so far: $")
    assert _axe(page) == []
    page.get_by_role("button", name="Advance 1 hour").click()
    row.locator(".badge.succeeded").wait_for(timeout=WAIT)
    _shot(page, shots, "azure-jobs")
    page.get_by_role("link", name=job.id).click()
    page.wait_for_url(re.compile(rf".*/console/jobs/{job.id}$"))
    page.locator("svg#chart-loss").wait_for(timeout=WAIT)
    assert "Billed so far (Azure)" in page.locator("#live").inner_text()
    assert _axe(page) == []
    _shot(page, shots, "azure-job")
    page.goto(server.base + "/console/azure/deployments")
    with page.expect_response(re.compile(r".*/console/clock/run$"), timeout=WAIT):
        page.get_by_role("button", name="Run every job to the end").click()
    model = azure.fine_tuning.jobs.retrieve(job.id).fine_tuned_model
    arm = (f"{server.base}/subscriptions/s/resourceGroups/g/providers/Microsoft.CognitiveServices/accounts/a/"
           "deployments/support-bot?api-version=2024-10-21")
    body = {"sku": {"name": "GlobalStandard", "capacity": 1},
            "properties": {"model": {"format": "OpenAI", "name": model, "version": "1"}}}
    assert httpx.put(arm, json=body, headers={"api-key": KEY}).status_code == 201
    row = page.locator("#deployments-table tbody tr", has_text="support-bot")
    row.locator(".badge.creating").wait_for(timeout=WAIT)  # the table follows the world without a reload
    assert model in row.inner_text()
    page.get_by_role("button", name="Advance 1 hour").click()
    row.locator(".badge.succeeded").wait_for(timeout=WAIT)
    assert _axe(page) == []
    _shot(page, shots, "azure")
    page.once("dialog", lambda d: d.accept())
    row.get_by_role("button", name="Delete deployment support-bot").click()
    page.get_by_text("Deleted the deployment support-bot.").wait_for(timeout=WAIT)
    assert httpx.get(arm, headers={"api-key": KEY}).status_code == 404
    assert page.offsite == []


def test_step_through_decide(page, server, tmp_path):
    shots = _shots_dir(tmp_path)
    _login(page, server)
    page.goto(server.base + "/console/planner/decide")
    asked = []
    for _ in range(30):
        if page.locator("#recommendation").count():
            break
        asked.append(page.locator("#question-text").inner_text())
        if page.get_by_role("button", name="No").count():
            page.get_by_role("button", name="No").click()
        else:
            page.get_by_label("Your answer").fill("500")
            page.keyboard.press("Enter")  # the form works by keyboard
        page.wait_for_load_state()
    assert len(asked) >= 2 and asked[0].startswith("Is the task mainly retrieving facts")
    assert page.locator("#recommendation").inner_text()
    assert page.locator("#answers li").count() == len(asked)
    assert _axe(page) == []
    _shot(page, shots, "decide")
    page.get_by_role("link", name=re.compile("Change the answer to fact retrieval")).click()
    assert page.locator("#question-text").inner_text() == asked[0]
    assert page.offsite == []


def test_run_a_whatif_scenario_and_download_its_csv(page, server, tmp_path):
    shots = _shots_dir(tmp_path)
    _login(page, server)
    page.goto(server.base + "/console/planner/whatif")
    page.get_by_role("button", name="Run", exact=True).click()
    report = page.frame_locator("iframe#report")
    report.locator("svg.chart").first.wait_for(timeout=WAIT)
    assert report.locator("svg.chart").count() == 3
    with page.expect_download(timeout=WAIT) as download:
        page.get_by_role("button", name="Download CSV").click()
    path = tmp_path / "whatif.csv"
    download.value.save_as(str(path))
    assert path.read_text().startswith("calls_per_month,")
    assert _axe(page) == [], "the console page and the report inside it pass axe"
    _shot(page, shots, "whatif")
    assert page.offsite == []
