"""The console's planner pages. Built so far: estimate (the cost of training on one of the organization's uploaded
files, with its range and warnings, from the planner's own `estimate`). Compare, what-if and decide are not
built yet (issue 17)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ftsim.api.http.console import views as v
from ftsim.api.http.console.routes import ConsoleError, _backend, _serve
from ftsim.api.http.console.views import esc

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

METHODS = ["supervised", "dpo", "reinforcement", "vision"]


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
        if not epochs.isdigit() or not 1 <= int(epochs) <= 50:
            return '<p class="note" role="status">Epochs: "auto" or a whole number from 1 to 50.</p>'
        n_epochs = int(epochs)
    path = backend.files.content_path(tenant, file_id)  # 404 for another organization's file
    try:
        est = estimate(path, model=model, method=method, epochs=n_epochs, catalog=backend.catalog,
                       today=_today(backend), workers=1, partial=True)
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


@router.get("/console/planner/estimate")
async def estimate_page(request: Request, file_id: str = "", model: str = "gpt-4o-mini-2024-07-18",
                        method: str = "supervised", n_epochs: str = "auto") -> Response:
    """Price a training run on one of the organization's uploaded files."""
    def build(tenant: Any) -> Any:
        backend = _backend(request)
        result = _result(backend, tenant, file_id, model, method, n_epochs)
        if request.headers.get("hx-request"):
            return result
        files = [f for f in backend.files.list(tenant)["data"] if f.get("purpose") == "fine-tune"]
        file_opts = '<option value="">(choose)</option>' + _options(
            [f["id"] for f in files], file_id, {f["id"]: f"{f['filename']} ({f['id']})" for f in files})
        models = [e.snapshot for e in backend.catalog.fine_tunable()]
        form = ('<form class="filters" method="get" action="/console/planner/estimate" '
                'hx-get="/console/planner/estimate" hx-target="#estimate" hx-trigger="change, submit">'
                f'<label for="file_id">Training file</label><select id="file_id" name="file_id">{file_opts}</select>'
                f'<label for="model">Model</label><select id="model" name="model">{_options(models, model)}</select>'
                f'<label for="method">Method</label><select id="method" name="method">'
                f'{_options(METHODS, method)}</select>'
                f'<label for="n_epochs">Epochs</label><input id="n_epochs" name="n_epochs" value="{esc(n_epochs)}" '
                'size="5"><button type="submit">Estimate</button></form>')
        return "Estimate a training run", form + f'<section id="estimate" aria-live="polite">{result}</section>'

    return await _serve(request, build)
