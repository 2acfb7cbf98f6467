"""The console's planner pages: estimate, compare, decide and what-if, from the planner's own functions.

Two take uploads from the browser, read by the project's streaming multipart parser (api/http/multipart.py): the
estimate page's training file (stored as one of the organization's files, as an upload through the API is) and
the what-if page's scenario file. Each has a size limit, and every refusal (too large, not multipart, no file,
not UTF-8) is said on the page, never a traceback."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ftsim.api.http.console import views as v
from ftsim.api.http.console.routes import (
    ConsoleError,
    _backend,
    _check_origin,
    _check_sim_key,
    _error_page,
    _serve,
    _tenant,
)
from ftsim.api.http.console.views import esc
from ftsim.api.http.multipart import Form, finish, read_upload, store_upload
from ftsim.simulator.core.dialect import is_azure
from ftsim.simulator.core.errors import BadRequestError, PayloadTooLargeError, SimulatorError
from ftsim.simulator.core.tenancy import Tenant
from ftsim.simulator.files.files import MAX_FILE_BYTES

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

METHODS = ["supervised", "dpo", "reinforcement", "vision"]
DEFAULT_MODEL = "gpt-4o-mini-2024-07-18"
# A training file dropped on the estimate page becomes one of the organization's files: the API's own limit.
ESTIMATE_UPLOAD_BYTES = MAX_FILE_BYTES
# The longest query the estimate page's redirect after an upload carries (browsers and servers take ~8 KB of URL).
REDIRECT_QUERY = 2000
# A what-if scenario is a few hundred bytes of TOML; a file far bigger is not one.
SCENARIO_UPLOAD_BYTES = 1024 * 1024


def _size(n: int) -> str:
    """A byte limit in words (512 MB, 1 MB, 300 bytes)."""
    return f"{n // (1024 * 1024)} MB" if n >= 1024 * 1024 and n % (1024 * 1024) == 0 else f"{n:,} bytes"


async def _upload(request: Request, *, file_field: str, limit: int, what: str,
                  expected: str) -> tuple[Tenant, Form] | Response:
    """Guard the request like any console action, then read its multipart body, the `file_field` part streamed
    into a spool beside the organization's files. (tenant, form), or the error page of a refused guard; a body
    the parser refuses raises its SimulatorError (400, or 413 past `limit`) for the page to say."""
    try:
        _check_sim_key(request)
        _check_origin(request)
        tenant = _tenant(request)
    except ConsoleError as exc:
        return _error_page(request, exc)
    backend = _backend(request)
    too_large = PayloadTooLargeError(f"The {what} is too large: the console takes up to {_size(limit)}.",
                                     param=file_field, code="file_too_large")
    form = await read_upload(request, backend.store, tenant.key, file_field=file_field, limit=limit,
                             too_large=too_large, prefix=".upload-", expected=expected)
    return tenant, form


def _whole(text: str, digits: int) -> int | None:
    """`text` as a whole number of at most `digits` ASCII digits, else None. (`str.isdigit` alone also passes
    superscripts such as '²', which `int` refuses, and `int` refuses more than 4,300 digits.)"""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= digits else None


def _options(values: list[str], chosen: str, labels: dict[str, str] | None = None) -> str:
    return "".join(f'<option value="{esc(x)}"{" selected" if x == chosen else ""}>{esc((labels or {}).get(x, x))}'
                   "</option>" for x in values)


def _result(backend: Any, tenant: Any, file_id: str, model: str, method: str, epochs: str) -> str:
    """The estimate's figures, or why there are none (a page section, never an error page)."""
    from ftsim.pricing.costs.estimate import estimate
    from ftsim.pricing.errors import PricingError

    if not file_id:
        return '<p class="muted">Pick an uploaded training file to price.</p>'
    if method not in METHODS:
        raise ConsoleError(400, "Refused", f"Unknown method '{method}'.")
    n_epochs: int | str = "auto"
    if epochs and epochs != "auto":
        whole = _whole(epochs, 4)
        if whole is None or not 1 <= whole <= 50:
            return '<p class="note" role="status">Epochs: "auto" or a whole number from 1 to 50.</p>'
        n_epochs = whole
    path = backend.files.content_path(tenant, file_id)  # 404 for another organization's file
    # The Azure account's view prices at Azure OpenAI's rates; Global Standard, the tier a new job gets when it names
    # none (assumed: the console has no tier picker here; `ftsim estimate --azure-tier` has).
    provider: Literal["openai", "azure"] = "azure" if is_azure(tenant) else "openai"
    try:
        est = estimate(path, model=model, method=method,  # type: ignore[arg-type]  # checked above
                       epochs=n_epochs, catalog=backend.catalog, today=_today(backend), workers=1, partial=True,
                       provider=provider)
    except PricingError as exc:
        return f'<p class="note" role="status">{esc(exc)}</p>'
    pairs = [("Estimated training cost", f'<strong id="estimate-cost">{v.money(est.training_cost_usd)}</strong>'),
             ("Range", f"{v.money(est.training_cost_usd_low)} – {v.money(est.training_cost_usd_high)}"),
             ("Model", esc(est.model)), ("Method", esc(est.method)), ("Examples", esc(f"{est.n_examples:,}")),
             ("Tokens per epoch", esc(f"{est.tokens_per_epoch:,}")), ("Epochs", esc(est.n_epochs)),
             ("Trained tokens", esc(f"{est.trained_tokens:,}")), ("Billing", esc(est.billing_unit)),
             ("Prices", esc(est.price_source))]
    warnings = "".join(f'<p class="note">{esc(w)}</p>' for w in est.warnings)
    if est.partial and est.n_lines_with_errors:
        warnings += (f'<p class="note">{est.n_lines_with_errors} line(s) with errors are left out of the price: '
                     "fix them before training.</p>")
    return v.kv(pairs) + warnings


def _today(backend: Any) -> Any:
    import datetime as dt

    return dt.datetime.fromtimestamp(backend.now(), dt.timezone.utc).date()


def _estimator(backend: Any, tenant: Any, file_id: str, model: str, method: str, n_epochs: str,
               note: str = "", result: str | None = None, refused: bool = False) -> str:
    """The estimate page's body: the picker, the upload form and the result (replaced whole after an upload)."""
    if result is None:
        result = _result(backend, tenant, file_id, model, method, n_epochs)
    files = [f for f in backend.files.list(tenant)["data"] if f.get("purpose") == "fine-tune"]
    file_opts = '<option value="">(choose)</option>' + _options(
        [f["id"] for f in files], file_id, {f["id"]: f"{f['filename']} ({f['id']})" for f in files})
    models = [e.snapshot for e in backend.catalog.fine_tunable()]
    picker = ('<form class="filters" id="estimate-form" method="get" action="/console/planner/estimate" '
              'hx-get="/console/planner/estimate" hx-target="#estimate" hx-trigger="change, submit">'
              f'<label for="file_id">Training file</label><select id="file_id" name="file_id">{file_opts}</select>'
              f'<label for="model">Model</label><select id="model" name="model">{_options(models, model)}</select>'
              f'<label for="method">Method</label><select id="method" name="method">'
              f'{_options(METHODS, method)}</select>'
              f'<label for="n_epochs">Epochs</label><input id="n_epochs" name="n_epochs" value="{esc(n_epochs)}" '
              'size="5"><button type="submit">Estimate</button></form>')
    # Without JavaScript the upload is a plain form post (answered by a redirect to the priced file); with htmx it
    # carries the picker's model, method and epochs and replaces this whole block.
    upload = ('<form class="upload" id="upload-form" method="post" action="/console/planner/estimate" '
              'enctype="multipart/form-data" hx-post="/console/planner/estimate" hx-encoding="multipart/form-data" '
              'hx-include="#model, #method, #n_epochs" hx-target="#estimator" hx-swap="outerHTML">'
              f'<label for="upload">Or upload a new dataset: drop a JSONL file here or pick one (up to '
              f'{_size(ESTIMATE_UPLOAD_BYTES)}); it joins this organization\'s files and is priced</label>'
              '<input id="upload" name="file" type="file" accept=".jsonl,.json,.txt" required>'
              '<button type="submit">Upload and estimate</button></form>')
    role = "alert" if refused else "status"
    said = f'<p class="note" role="{role}" id="upload-note">{esc(note)}</p>' if note else ""
    return (f'<div id="estimator">{picker}{upload}{said}'
            f'<section id="estimate" aria-live="polite">{result}</section></div>')


@router.get("/console/planner/estimate")
async def estimate_page(request: Request, file_id: str = "", model: str = DEFAULT_MODEL,
                        method: str = "supervised", n_epochs: str = "auto") -> Response:
    """Price a training run on one of the organization's uploaded files."""
    def build(tenant: Any) -> Any:
        backend = _backend(request)
        result = _result(backend, tenant, file_id, model, method, n_epochs)
        if request.headers.get("hx-request"):
            return result
        return "Estimate a training run", _estimator(backend, tenant, file_id, model, method, n_epochs,
                                                     result=result)

    return await _serve(request, build)


@router.post("/console/planner/estimate")
async def estimate_upload(request: Request) -> Response:
    """Upload a training file from the browser (multipart `file`, with the picker's `model`, `method` and
    `n_epochs`): it becomes one of the organization's files, and the page prices it."""
    hx = bool(request.headers.get("hx-request"))
    fields: dict[str, str] = {}
    file_id, note, status = "", "", 200
    try:
        got = await _upload(request, file_field="file", limit=ESTIMATE_UPLOAD_BYTES, what="training file",
                            expected="a training file in 'file'")
        if isinstance(got, Response):
            return got
        tenant, form = got
        fields = form.fields
        try:
            if form.file is None or not form.filename:
                raise BadRequestError("Choose a training file to upload.", param="file")
            if form.file.size == 0:
                raise BadRequestError(f"The file {form.filename} is empty.", param="file")
            backend = _backend(request)
            created = await store_upload(form, backend.store.durability, backend.files.create_from_spool, tenant,
                                         filename=form.filename, purpose="fine-tune")
        except BaseException:
            form.discard()
            raise
        file_id, note = created.id, f"Uploaded {created.filename} as {created.id}."
    except SimulatorError as exc:
        note, status = exc.message, exc.status_code
    model = fields.get("model") or DEFAULT_MODEL
    method = fields.get("method") or "supervised"
    n_epochs = fields.get("n_epochs") or "auto"
    query = urlencode({"file_id": file_id, "model": model, "method": method, "n_epochs": n_epochs})
    # A form field may hold up to a megabyte: past REDIRECT_QUERY the page is answered here, not by a redirect to
    # an address no browser (nor server) takes.
    if status == 200 and not hx and len(query) <= REDIRECT_QUERY:
        return RedirectResponse(f"/console/planner/estimate?{query}", status_code=303)

    def build(tenant: Any) -> Any:
        body = _estimator(_backend(request), tenant, file_id, model, method, n_epochs, note=note,
                          refused=status != 200)
        return body if hx else ("Estimate a training run", body)

    # htmx swaps only 2xx answers: a refusal it is to show comes as 200 (the plain form post keeps its status)
    return await _serve(request, build, status=200 if hx else status)


# The compare form's fields and their starting values (an example a budget owner edits); the model list is the
# catalog's. The main inputs of `ftsim compare`, the provider (OpenAI, Azure OpenAI or both side by side) with
# Azure's training type, hosting rate and deployments, and the lifecycle inputs; the rest keep compare's defaults.
COMPARE_FIELDS: list[tuple[str, str, str]] = [
    ("calls_per_month", "Calls per month", "100000"),
    ("system_prompt_tokens", "Base path: system prompt tokens", "2000"),
    ("tuned_system_prompt_tokens", "Tuned path: system prompt tokens", "0"),
    ("input_tokens", "Input tokens per call", "200"),
    ("output_tokens", "Output tokens per call", "150"),
    ("training_tokens", "Training tokens (epochs included; empty: none)", "1000000"),
    ("months", "Horizon (months)", "12"),
]
YES_NO = [("", "not known"), ("true", "yes"), ("false", "no")]
# (name, label, choices, default) of the select inputs, by fieldset
PROVIDER_CHOICES: list[tuple[str, str, list[tuple[str, str]], str]] = [
    ("provider", "Provider", [("openai", "OpenAI"), ("azure", "Azure OpenAI"), ("both", "both, side by side")],
     "openai"),
    ("azure_tier", "Azure training and deployment type",
     [("global", "Global"), ("data_zone", "Data zone"), ("regional_us", "Regional (US)"),
      ("regional_sweden", "Regional (Sweden)"), ("developer", "Developer")], "global"),
    ("hosting_region", "Azure hosting rate", [("default", "default region"), ("southeast_asia", "Southeast Asia")],
     "default"),
]
AZURE_NUMBERS: list[tuple[str, str, str]] = [("deployments", "Azure: fine-tuned deployments kept", "1")]
LIFECYCLE_CHOICES: list[tuple[str, str, list[tuple[str, str]], str]] = [
    ("has_fine_tuned_before", "OpenAI: has the organization fine-tuned before?", YES_NO, ""),
    ("recent_fine_tuned_inference", "OpenAI: inference on a fine-tuned model in the last 60 days?", YES_NO, ""),
]
LIFECYCLE_NUMBERS: list[tuple[str, str, str]] = [
    ("retrain_every", "Retrain every (months; empty: never)", ""),
    ("after_shutdown_cost_usd", "One-off cost of retraining elsewhere after a shutdown (USD)", "0"),
]
EXISTING_CUSTOMER = ("azure_existing_customer", "Azure: already fine-tunes there (training continues past the "
                                                "base model's retirement)")
PROVIDER_NAMES = {"openai": "OpenAI", "azure": "Azure OpenAI"}


def _compare_figures(result: Any, suffix: str = "") -> str:
    """One provider's verdict, figures and the report's two charts (ids suffixed when several are on the page)."""
    from ftsim.pricing.reports.report import VERDICT_WORDS, charts

    verdict = VERDICT_WORDS.get(result.verdict, result.verdict)
    payback = f"{result.break_even_months} months" if result.break_even_months is not None else "—"
    volume = f"{result.break_even_calls_per_month:,} calls/month" if result.break_even_calls_per_month else "—"
    pairs = [("Verdict", f'<strong id="verdict{suffix}" class="{esc(result.verdict)}">{esc(verdict)}</strong>'),
             ("Net savings over the horizon", v.money(result.net_savings_over_horizon_usd)),
             ("Monthly savings", v.money(result.monthly_savings_usd)),
             ("Break-even volume", esc(volume)), ("Payback", esc(payback)),
             ("Horizon", esc(f"{result.horizon_months} months, to {result.horizon_end}")),
             ("Base path per month", v.money(result.base.monthly_cost_usd)),
             ("Tuned path per month", v.money(result.tuned.monthly_cost_usd)),
             ("Training", v.money(result.tuned.training_cost_usd)
              + (f" × {result.tuned.trainings}" if result.tuned.trainings > 1 else ""))]
    if result.provider == "azure":
        pairs.append(("Hosting per month", v.money(result.tuned.hosting_monthly_usd)))
    shown = result.eligibility and result.eligibility not in result.warnings  # else said below with the warnings
    pairs.append(("Can train", esc({True: "yes", False: "no", None: "not known"}[result.can_train])
                  + (f' <span class="muted">{esc(result.eligibility)}</span>' if shown else "")))
    drawn = {k: svg.replace(f'id="chart-{k}"', f'id="chart-{k}{suffix}"') for k, svg in charts(result).items()}
    return v.kv(pairs) + f'<div class="grid charts">{drawn["volume"]}{drawn["cumulative"]}</div>'


def _compare_result(backend: Any, values: dict[str, str]) -> str:
    """The verdict, break-even and the report's two charts for these inputs, per provider when both are asked
    for (a section, never an error page)."""
    from pydantic import ValidationError

    from ftsim.pricing.errors import PricingError
    from ftsim.pricing.planning.compare import CompareInput, compare, compare_providers

    try:
        from ftsim.pricing.reports.report import charts  # noqa: F401  # pandas: the planning extra
    except ImportError:
        return ('<p class="note" role="status">The compare page needs the planner: pip install '
                "'ftsim-openai[planning]'.</p>")
    fields = {k: val.strip() for k, val in values.items() if val.strip() != ""}
    try:
        params = CompareInput.model_validate({"today": _today(backend), **fields})
        both = compare_providers(params, catalog=backend.catalog) if params.provider == "both" else None
        result = compare(params, catalog=backend.catalog) if both is None else None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors())
        return f'<p class="note" role="status">{esc(problems)}</p>'
    except PricingError as exc:
        return f'<p class="note" role="status">{esc(exc)}</p>'
    if result is not None:
        warnings = "".join(f'<p class="note">{esc(w)}</p>' for w in result.warnings)
        return f'<p id="summary">{esc(result.summary)}</p>' + _compare_figures(result) + warnings
    assert both is not None
    best = f'<p>Lowest horizon total that can run: <strong id="best">{esc(both.best or "none")}</strong></p>'
    parts = [f'<p id="summary">{esc(both.summary)}</p>', best]
    for r in both.results:
        name = PROVIDER_NAMES.get(r.provider, r.provider)
        parts.append(f'<section aria-labelledby="provider-{esc(r.provider)}"><h2 id="provider-{esc(r.provider)}">'
                     f"{esc(name)}</h2>{_compare_figures(r, '-' + r.provider)}</section>")
    for provider, why in both.unavailable.items():
        parts.append(f'<p class="note" role="status" id="unavailable-{esc(provider)}">'
                     f"{esc(PROVIDER_NAMES.get(provider, provider))}: not available. {esc(why)}</p>")
    parts += [f'<p class="note">{esc(w)}</p>' for w in both.warnings]
    return "".join(parts)


def _number_inputs(fields: list[tuple[str, str, str]], values: dict[str, str]) -> str:
    return "".join(f'<label for="{n}">{esc(label)}</label><input id="{n}" name="{n}" '
                   f'value="{esc(values[n])}" inputmode="numeric" size="10">' for n, label, _ in fields)


def _selects(fields: list[tuple[str, str, list[tuple[str, str]], str]], values: dict[str, str]) -> str:
    return "".join(f'<label for="{n}">{esc(label)}</label><select id="{n}" name="{n}">'
                   + "".join(f'<option value="{esc(x)}"{" selected" if x == values[n] else ""}>{esc(text)}</option>'
                             for x, text in choices) + "</select>"
                   for n, label, choices, _ in fields)


@router.get("/console/planner/compare")
async def compare_page(request: Request) -> Response:
    """Fine-tuned model with a short prompt against the base model with a long one: the verdict as inputs change,
    on OpenAI, on Azure OpenAI, or both side by side."""
    def build(tenant: Any) -> Any:
        backend = _backend(request)
        query = request.query_params
        models = [e.snapshot for e in backend.catalog.fine_tunable() if e.training is not None]
        model = query.get("model") or ("gpt-4.1-mini-2025-04-14" if "gpt-4.1-mini-2025-04-14" in models
                                       else models[0])
        numbers = COMPARE_FIELDS + AZURE_NUMBERS + LIFECYCLE_NUMBERS
        values = {name: query.get(name, default) for name, _, default in numbers}
        values |= {name: query.get(name, default) for name, _, _, default in PROVIDER_CHOICES + LIFECYCLE_CHOICES}
        existing = query.get(EXISTING_CUSTOMER[0], "") == "true"
        values["today"] = query.get("today", "")
        result = _compare_result(backend, {"model": model, **values, EXISTING_CUSTOMER[0]: str(existing).lower()})
        if request.headers.get("hx-request"):
            return result
        checked = " checked" if existing else ""
        form = ('<form class="stack" id="compare-form" method="get" action="/console/planner/compare" '
                'hx-get="/console/planner/compare" hx-target="#compare" '
                'hx-trigger="input changed delay:400ms, change, submit">'
                '<fieldset class="filters"><legend>Usage and training</legend>'
                f'<label for="model">Model to fine-tune</label><select id="model" name="model">'
                f'{_options(models, model)}</select>{_number_inputs(COMPARE_FIELDS, values)}</fieldset>'
                '<fieldset class="filters"><legend>Provider</legend>'
                f'{_selects(PROVIDER_CHOICES, values)}{_number_inputs(AZURE_NUMBERS, values)}'
                f'<input type="checkbox" id="{EXISTING_CUSTOMER[0]}" name="{EXISTING_CUSTOMER[0]}" value="true"'
                f'{checked}><label for="{EXISTING_CUSTOMER[0]}">{esc(EXISTING_CUSTOMER[1])}</label></fieldset>'
                '<fieldset class="filters"><legend>Lifecycle</legend>'
                f'<label for="today">As of (empty: the simulated date)</label><input id="today" name="today" '
                f'type="date" value="{esc(values["today"])}">'
                f'{_selects(LIFECYCLE_CHOICES, values)}{_number_inputs(LIFECYCLE_NUMBERS, values)}</fieldset>'
                '<p><button type="submit">Compare</button></p></form>')
        return "Compare: fine-tune or keep the long prompt?", (
            form + f'<section id="compare" aria-live="polite">{result}</section>')

    return await _serve(request, build)


# The console cannot read a path on the server's disk for the browser: the dataset question stays the CLI's (the
# estimate page prices an uploaded file).
CONSOLE_SKIPS = ("training_file",)


@dataclass
class _Walk:
    """The walkthrough's answers carried in the query: typed (a blank optional answer is "", the question's stated
    assumption), their text as the form carries them on, and the CLI's message for an unreadable percentage."""

    answers: dict[str, Any] = field(default_factory=dict)
    carried: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)

    def decide_input(self) -> dict[str, Any]:
        """The answers as DecideInput takes them (a blank optional answer is no answer)."""
        return {k: a for k, a in self.answers.items() if a != ""}


def _answers(query: Any) -> _Walk:
    """The walkthrough's answers carried in the query. Unknown names and unreadable yes/no or whole-number values
    are ignored, so that question is simply asked again; a percentage is read as the CLI reads it (`parse_answer`),
    and an unreadable one keeps the CLI's message for the page."""
    from ftsim.pricing.planning.decide import FOLLOW_UPS, QUESTIONS, parse_answer

    walk = _Walk()
    for q in QUESTIONS + FOLLOW_UPS:
        raw = (query.get(q.id) or "").strip().lower()
        if q.kind == "bool" and raw in ("true", "false"):
            walk.answers[q.id], walk.carried[q.id] = raw == "true", raw
        elif q.kind == "int" and (whole := _whole(raw, 10)) is not None:
            walk.answers[q.id], walk.carried[q.id] = whole, str(whole)
        elif q.kind == "percent" and q.id in query:
            text = query.get(q.id) or ""
            try:
                walk.answers[q.id] = parse_answer(q, text)
            except ValueError as exc:
                walk.refused[q.id] = str(exc)
                continue
            walk.carried[q.id] = text.strip()
    return walk


def _shown(answer: Any, carried: str) -> str:
    """An answer as the list of answers shows it."""
    if isinstance(answer, bool):
        return "yes" if answer else "no"
    if isinstance(answer, int):
        return f"{answer:,}"
    return f"{carried.removesuffix('%').strip()}%" if carried else "blank"


@router.get("/console/planner/decide")
async def decide_page(request: Request) -> Response:
    """Should we fine-tune? `ftsim decide`'s walkthrough as a form, one question at a time (the CLI's questions,
    hints and messages), ending in the recommendation and its figures."""
    def build(tenant: Any) -> Any:
        from pydantic import ValidationError

        from ftsim.pricing.errors import PricingError
        from ftsim.pricing.planning.decide import DecideInput, decide, next_question

        backend = _backend(request)
        walk = _answers(request.query_params)
        done = list(walk.carried.items())
        rows = []
        for k, (qid, text) in enumerate(done):
            back = urlencode(done[:k])  # this answer and the later ones unset
            rows.append(f'<li><span class="muted">{esc(qid.replace("_", " "))}:</span> '
                        f'<strong>{esc(_shown(walk.answers[qid], text))}</strong>'
                        f' <a href="/console/planner/decide?{esc(back)}" aria-label="Change the answer to '
                        f'{esc(qid.replace("_", " "))}">change</a></li>')
        walked = f'<ol id="answers">{"".join(rows)}</ol>' if rows else ""
        question = next_question(walk.answers, interactive=True, skip=CONSOLE_SKIPS)
        if question is not None:
            hidden = "".join(f'<input type="hidden" name="{esc(i)}" value="{esc(a)}">' for i, a in done)
            said = ""
            if question.id in walk.refused:  # as the CLI answers it: the message, and the question again
                said = f'<p class="note" role="alert" id="answer-error">{esc(walk.refused[question.id])}</p>'
            if question.kind == "bool":
                control = (f'<button type="submit" name="{esc(question.id)}" value="true">Yes</button> '
                           f'<button type="submit" name="{esc(question.id)}" value="false">No</button>')
            elif question.kind == "percent":
                # text, not type=number: the page reads "30%" and says why "half" is not a share, as the CLI does
                control = (f'<label for="answer">Your answer [{esc(question.hint)}]</label> <input id="answer" '
                           f'name="{esc(question.id)}" type="text" inputmode="decimal" size="6"> '
                           '<button type="submit">Next</button>')
            else:
                control = (f'<label for="answer">Your answer</label> <input id="answer" name="{esc(question.id)}" '
                           'type="number" min="0" required> <button type="submit">Next</button>')
            body = (walked + f'<form method="get" action="/console/planner/decide" id="question">{hidden}'
                    f'<fieldset><legend id="question-text">{esc(question.text)}</legend>{control}{said}'
                    '</fieldset></form>')
            return "Should we fine-tune?", body
        try:
            decision = decide(DecideInput.model_validate(walk.decide_input()), catalog=backend.catalog,
                              today=_today(backend))
        except (ValidationError, PricingError, ValueError) as exc:
            return "Should we fine-tune?", walked + f'<p class="note" role="status">{esc(exc)}</p>'
        steps = "".join(f"<li><strong>{esc(s.text)}</strong> {esc(s.reason)}</li>" for s in decision.path)
        figures = ""
        if decision.compare is not None:
            c = decision.compare
            share = f"{(c.cached_fraction * 100).normalize():f}%"
            figures = v.kv([("Verdict", esc(c.verdict.replace("_", " "))),
                            ("Net savings over the horizon", v.money(c.net_savings_over_horizon_usd)),
                            ("Training", v.money(c.tuned.training_cost_usd)),
                            ("Cached share of the long prompt",
                             f'<span id="cached-share">{esc(share)}</span>'
                             + (" (assumed)" if c.cached_fraction_assumed else ""))])
        warnings = "".join(f'<p class="note">{esc(w)}</p>' for w in decision.warnings)
        body = (walked + f'<section aria-labelledby="rec"><h2 id="rec">Recommendation</h2>'
                f'<p id="recommendation" data-recommendation="{esc(decision.recommendation)}">'
                f"<strong>{esc(decision.summary)}</strong></p>{figures}<h2>Why</h2><ol>{steps}</ol>{warnings}"
                '<p><a href="/console/planner/decide">Start again</a></p></section>')
        return "Should we fine-tune?", body

    return await _serve(request, build)


# The what-if page starts from this scenario (the same shape as fixtures/scenarios/*.toml); a user pastes their
# own over it. The console keeps the grid small enough for a page: the CLI is the tool for big sweeps.
WHATIF_EXAMPLE = """title = "Support bot: fine-tuned gpt-4.1-mini vs a 2,000-token prompt"
kind = "compare"

[baseline]
model = "gpt-4.1-mini"
calls_per_month = 100000
system_prompt_tokens = 2000
input_tokens = 500
output_tokens = 300
tuned_system_prompt_tokens = 0
training_tokens = 2400000
months = 12

[sweep]
calls_per_month = { start = 0, stop = 500000, step = 50000 }
cached_fraction = [0, 0.5, 1]
"""
MAX_CONSOLE_ROWS = 100_000
DOWNLOADS = {"html": ("text/html", "html"), "md": ("text/markdown", "md"), "csv": ("text/csv", "csv")}


def _whatif_form(text: str) -> str:
    buttons = "".join(f'<button type="submit" name="format" value="{f}">Download {label}</button> '
                      for f, label in (("html", "HTML"), ("md", "Markdown"), ("csv", "CSV")))
    return ('<form method="post" action="/console/planner/whatif" id="whatif-form" enctype="multipart/form-data">'
            '<p><label for="scenario">Scenario (TOML, as for <code>ftsim whatif</code>)</label><br>'
            f'<textarea id="scenario" name="scenario" rows="18" cols="90" spellcheck="false">{esc(text)}</textarea></p>'
            f'<p class="upload"><label for="scenario_file">Or drop a scenario file here, or pick one (TOML, up to '
            f'{_size(SCENARIO_UPLOAD_BYTES)}; it replaces the text above)</label>'
            '<input id="scenario_file" name="scenario_file" type="file" accept=".toml,text/plain"></p>'
            f'<p><button type="submit" name="format" value="page">Run</button> {buttons}</p></form>')


@dataclass
class _ScenarioForm:
    """The what-if form as posted: its text fields, the scenario's text, and why the body was refused (if it was)."""

    fields: dict[str, str] = field(default_factory=dict)
    text: str = ""
    error: str = ""
    status: int = 200


async def _scenario_form(request: Request) -> _ScenarioForm | Response:
    """The what-if form (an uploaded scenario file's text over the pasted one), or the error page of a refused
    guard."""
    from ftsim.api.http.console.routes import _form

    if not request.headers.get("content-type", "").lower().startswith("multipart/"):
        # url-encoded (a client that sends no file): read up to the same limit
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > SCENARIO_UPLOAD_BYTES:
                return _ScenarioForm(error=f"The scenario is too large: the console takes up to "
                                           f"{_size(SCENARIO_UPLOAD_BYTES)}.", status=413)
        fields = _form(bytes(body))
        return _ScenarioForm(fields, fields.get("scenario", ""))
    try:
        got = await _upload(request, file_field="scenario_file", limit=SCENARIO_UPLOAD_BYTES,
                            what="scenario file", expected="a scenario")
    except SimulatorError as exc:
        return _ScenarioForm(error=exc.message, status=exc.status_code)
    if isinstance(got, Response):
        return got
    form = got[1]
    posted = _ScenarioForm(form.fields, form.fields.get("scenario", ""))
    if form.file is None or form.file.size == 0:  # no file chosen: the browser sends an empty part
        form.discard()
        return posted
    try:
        path, _ = await finish(form.file)
        raw = path.read_bytes()
    finally:
        form.discard()
    try:
        posted.text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        name = f" {form.filename}" if form.filename else ""
        posted.error, posted.status = f"The scenario file{name} is not UTF-8 text.", 400
    return posted


def _sweep_size(scenario: Any) -> int:
    """The grid's rows as the sweeps declare them, counted without building any range (a range its `values()`
    would refuse counts as one point: `grid_size` says what is wrong with it)."""
    from ftsim.pricing.planning.whatif import RangeSpec

    size = 1
    for spec in scenario.sweep.values():
        size *= max(1, spec.count() if isinstance(spec, RangeSpec) else len(spec))
    return size


def _whatif_run(backend: Any, text: str) -> tuple[Any, Any, Any, list[str]] | str:
    """(scenario, grid, compare result, warnings), or why not as a sentence."""
    import tomllib

    from ftsim.pricing.errors import PricingError
    from ftsim.pricing.planning.compare import compare
    from ftsim.pricing.planning.whatif import baseline_input, evaluate, grid_size, parse_scenario, sweep_warnings

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return f"The scenario is not valid TOML: {exc}"
    try:
        scenario = parse_scenario(data)
        if scenario.today is None:
            scenario = scenario.model_copy(update={"today": _today(backend)})
        # The bound is checked on the sweeps' sizes before `grid_size` builds every axis: a range alone may hold
        # 10 million points, so a two-line scenario would cost seconds and gigabytes before being refused.
        size = _sweep_size(scenario)
        if size <= MAX_CONSOLE_ROWS:
            size = grid_size(scenario)
        if size > MAX_CONSOLE_ROWS:
            return f"The grid has {size:,} rows; the console runs at most {MAX_CONSOLE_ROWS:,} (use ftsim whatif)."
        grid = evaluate(scenario, catalog=backend.catalog)
        result = compare(baseline_input(scenario), catalog=backend.catalog) if scenario.kind == "compare" else None
    except PricingError as exc:
        return str(exc)
    warnings = list(result.warnings) if result is not None else sweep_warnings(scenario, backend.catalog)
    return scenario, grid, result, warnings


@router.get("/console/planner/whatif")
async def whatif_page(request: Request) -> Response:
    """Paste a what-if scenario; run it to read the report inline, or download it as HTML, Markdown or CSV."""
    return await _serve(request, lambda tenant: ("What if?", _whatif_form(WHATIF_EXAMPLE)))


@router.post("/console/planner/whatif")
async def whatif_run(request: Request) -> Response:
    """The report of the pasted scenario: inline (in a frame: it is a whole page with its own style) or a file."""
    posted = await _scenario_form(request)
    if isinstance(posted, Response):
        return posted
    form, text = posted.fields, posted.text
    if posted.error:  # the body itself was refused: said on the page, with its status
        return await _serve(request, lambda tenant: ("What if?", f'<p class="note" role="alert">'
                                                     f'{esc(posted.error)}</p>' + _whatif_form(text)),
                            write=True, status=posted.status)

    def build(tenant: Any) -> Any:
        try:
            from ftsim.pricing.reports.report import render
        except ImportError:  # pandas: the planning extra
            return "What if?", ('<p class="note" role="status">The what-if page needs the planner: pip install '
                                "'ftsim-openai[planning]'.</p>")
        fmt = form.get("format", "page")
        if fmt not in DOWNLOADS and fmt != "page":
            raise ConsoleError(400, "Refused", f"Unknown format '{fmt}'.")
        out = _whatif_run(_backend(request), text)
        if isinstance(out, str):
            return "What if?", f'<p class="note" role="alert">{esc(out)}</p>' + _whatif_form(text)
        scenario, grid, result, warnings = out
        if fmt in DOWNLOADS:
            media, ext = DOWNLOADS[fmt]
            body = render(fmt, scenario, grid, result, warnings, _backend(request).catalog)  # type: ignore[arg-type]
            return Response(body, media_type=f"{media}; charset=utf-8",
                            headers={"content-disposition": f'attachment; filename="whatif.{ext}"'})
        report = render("html", scenario, grid, result, warnings, _backend(request).catalog)
        frame = (f'<iframe id="report" title="What-if report: {esc(scenario.title)}" srcdoc="{esc(report)}" '
                 'style="width:100%;height:70rem;border:1px solid #e5e7eb;background:#fff"></iframe>')
        return "What if?", _whatif_form(text) + f"<h2>Report: {esc(scenario.title)}</h2>{frame}"

    return await _serve(request, build, write=True)
