"""/planning: the cost planner over HTTP, with the same pydantic models as the CLI.

- POST /planning/compare   CompareInput -> CompareResult (a local `training_file` path is refused: use
                           training_tokens, or estimate an uploaded file first)
- POST /planning/whatif    {scenario, format, max_rows} -> rows as JSON, or the HTML/Markdown/CSV report
- POST /planning/decide    DecideInput -> Decision (400 naming the first missing answer; a local `training_file` is
                           refused as in compare)
- POST /planning/estimate  inline `examples` or the `file_id` of an uploaded file -> Estimate

`today` defaults to the simulated clock's date. Bad input is a 400 envelope (BadRequestError), never a 500.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from ftsim.api.http.deps import get_tenant
from ftsim.api.http.params import BackendDep
from ftsim.api.http.json_route import JSONRoute
from ftsim.pricing.planning.bounds import MAX_TRAINING_HOURS
from ftsim.pricing.planning.compare import (
    CompareInput, CompareResult, ProviderComparison, compare, compare_providers,
)
from ftsim.pricing.planning.decide import DecideInput, Decision, decide
from ftsim.pricing.errors import PricingError
from ftsim.pricing.costs.estimate import Estimate
from ftsim.simulator.core.errors import BadRequestError, NotFoundError

__all__ = ["router", "WhatifRequest", "WhatifResponse", "EstimateRequest", "MAX_HTTP_ROWS"]

router = APIRouter(route_class=JSONRoute, prefix="/planning", tags=["planning"])

MAX_HTTP_ROWS = 2_000_000  # grid size limit over HTTP


def _today(backend) -> dt.date:
    """The simulated clock's date."""
    return dt.datetime.fromtimestamp(backend.now(), dt.timezone.utc).date()


def _bad(exc: Exception, param: str | None = None) -> BadRequestError:
    return BadRequestError(str(exc), param=getattr(exc, "param", None) or param)


def _refuse_local_path(training_file: str | None) -> None:
    """A `training_file` is a path on the machine that runs the planner (the CLI's input): over HTTP it would read
    the server's own files for whoever asks, so it is refused, and the figure comes from an estimate instead."""
    if training_file is not None:
        raise BadRequestError(
            "training_file is a local path and cannot be read over HTTP: give training_tokens (from "
            "POST /planning/estimate) or training_hours",
            param="training_file",
        )


@router.post("/compare", response_model=CompareResult | ProviderComparison)
def post_compare(body: CompareInput, backend: BackendDep) -> CompareResult | ProviderComparison:
    """Fine-tuned model with a short prompt vs base model with a long prompt: costs, break-even, verdict
    (`provider: both`: both providers side by side)."""
    _refuse_local_path(body.training_file)
    params = body if body.today else body.model_copy(update={"today": _today(backend)})
    try:
        if params.provider == "both":
            return compare_providers(params, catalog=backend.catalog)
        return compare(params, catalog=backend.catalog)
    except PricingError as exc:
        raise _bad(exc, "model") from None


class WhatifRequest(BaseModel):
    """A scenario (the TOML's content as JSON) and the output wanted."""

    model_config = ConfigDict(extra="forbid")

    scenario: dict[str, Any]
    format: Literal["json", "html", "md", "csv"] = "json"
    max_rows: int = Field(default=1000, ge=0, le=100_000, description="rows returned in JSON")


class WhatifResponse(BaseModel):
    """The grid's first rows, its size, the baseline comparison and warnings."""

    title: str
    kind: str
    as_of: dt.date
    n_rows: int
    columns: list[str]
    rows: list[dict[str, Any]]
    baseline: CompareResult | None
    warnings: list[str]


@router.post("/whatif", response_model=WhatifResponse)
def post_whatif(body: WhatifRequest, backend: BackendDep):
    """Evaluate a what-if grid; JSON rows, or a self-contained HTML / Markdown / CSV report."""
    import json

    from ftsim.pricing.reports.report import render
    from ftsim.pricing.planning.whatif import baseline_input, evaluate, grid_size, parse_scenario, sweep_warnings

    try:
        scenario = parse_scenario(body.scenario)
        if scenario.today is None:
            scenario = scenario.model_copy(update={"today": _today(backend)})
        size = grid_size(scenario)
        if size > MAX_HTTP_ROWS:
            raise PricingError(f"the grid has {size:,} rows; at most {MAX_HTTP_ROWS:,} over HTTP (use the CLI)")
        grid = evaluate(scenario, catalog=backend.catalog)
        result = compare(baseline_input(scenario), catalog=backend.catalog) if scenario.kind == "compare" else None
    except PricingError as exc:
        raise _bad(exc, "scenario") from None
    warnings = list(result.warnings) if result is not None else sweep_warnings(scenario, backend.catalog)
    if body.format != "json":
        media = {"html": "text/html", "md": "text/markdown", "csv": "text/csv"}[body.format]
        text = render(body.format, scenario, grid, result, warnings, backend.catalog)
        return Response(content=text, media_type=f"{media}; charset=utf-8")
    head = grid.head(body.max_rows)
    rows = json.loads(head.to_json(orient="records"))
    return WhatifResponse(
        title=scenario.title, kind=scenario.kind, as_of=scenario.today or _today(backend), n_rows=len(grid), columns=list(grid.columns), rows=rows,
        baseline=result, warnings=warnings,
    )


@router.post("/decide", response_model=Decision)
def post_decide(body: DecideInput, backend: BackendDep) -> Decision:
    """The decision walkthrough, non-interactive: a recommendation, the path and its figures."""
    from ftsim.pricing.planning.decide import next_question

    _refuse_local_path(body.training_file)
    missing = next_question(body.answers())
    if missing is not None:
        raise BadRequestError(f"Missing answer: '{missing.id}' ({missing.text})", param=missing.id)
    try:
        return decide(body, catalog=backend.catalog, today=body.today or _today(backend))
    except (PricingError, ValueError) as exc:
        raise _bad(exc) from None


class EstimateRequest(BaseModel):
    """A training job to price: inline examples or an uploaded file, with the estimate's options."""

    model_config = ConfigDict(extra="forbid")

    model: str
    method: Literal["supervised", "dpo", "reinforcement", "vision"] = "supervised"
    n_epochs: int | Literal["auto"] = "auto"
    hours: Decimal | None = Field(
        default=None, ge=0, le=MAX_TRAINING_HOURS, description="RFT: billed training-loop hours"
    )
    examples: list[dict[str, Any]] | None = None
    validation_examples: list[dict[str, Any]] | None = None
    file_id: str | None = None
    validation_file_id: str | None = None
    today: dt.date | None = None
    strict: bool = Field(default=False, description="refuse a file with errors (default: price the valid examples)")
    provider: Literal["openai", "azure"] = "openai"
    azure_tier: Literal["global", "data_zone", "regional_us", "regional_sweden", "developer"] = "global"
    azure_existing_customer: bool = False


@router.post("/estimate", response_model=Estimate)
def post_estimate(body: EstimateRequest, backend: BackendDep, request: Request):
    """What a fine-tuning job on these examples (or this uploaded file) will cost."""
    from ftsim.pricing.costs.estimate import estimate, estimate_examples

    if (body.examples is None) == (body.file_id is None):
        raise BadRequestError("give exactly one of examples or file_id", param="examples")
    if isinstance(body.n_epochs, int) and body.n_epochs < 1:
        raise BadRequestError("n_epochs must be >= 1 or 'auto'", param="n_epochs")
    options: dict[str, Any] = dict(  # the same for an inline run and a file run
        model=body.model, method=body.method, epochs=body.n_epochs, hours=body.hours, catalog=backend.catalog,
        today=body.today or _today(backend), workers=1, partial=not body.strict, provider=body.provider,
        azure_tier=body.azure_tier, azure_existing_customer=body.azure_existing_customer,
    )
    try:
        if body.examples is not None:
            if body.validation_file_id is not None:
                raise PricingError("validation_file_id goes with file_id; inline runs use validation_examples")
            return estimate_examples(body.examples, validation_examples=body.validation_examples, **options)
        assert body.file_id is not None  # exactly one of examples and file_id, checked above
        tenant = get_tenant(request, backend)  # uploaded files belong to the key's tenant (401 without one)
        path = _content_path(backend, tenant, body.file_id, "file_id")
        validation = None
        if body.validation_file_id is not None:
            validation = _content_path(backend, tenant, body.validation_file_id, "validation_file_id")
        return estimate(path, validation_file=validation, **options)
    except PricingError as exc:
        raise _bad(exc) from None


def _content_path(backend, tenant, file_id: str, param: str):
    """An uploaded file's bytes; a 404 names this request's field (`file_id`), not the files service's `id`."""
    try:
        return backend.files.content_path(tenant, file_id)
    except NotFoundError as exc:
        exc.param = param
        raise
