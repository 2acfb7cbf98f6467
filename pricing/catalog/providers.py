"""Provider facts beside the OpenAI price catalog (`pricing/catalog/providers-*.json`, dated data with sources):

- OpenAI's fine-tuning wind-down: which organizations can still create jobs on a date (`openai_training_block`);
- grader models' shutdown dates (OpenAI and Azure);
- Azure OpenAI as a second provider: training by training type (tier) and region, RFT per hour with a per-job
  cap, tuned inference at the base model's price (regional and Data Zone deployments pay an uplift), hosting per
  deployment-hour, and the retirement dates of training and of fine-tuned deployments.

`load_providers()` loads the newest bundled file; any problem -> `CatalogError`.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from decimal import Decimal
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from ftsim.pricing.catalog.catalog import Method, Price, SourceRef
from ftsim.pricing.errors import CatalogError, UnknownModel

__all__ = [
    "AzureTier", "AZURE_TIERS", "WindDownRule", "GraderShutdown", "AzureModel", "AzureTierInfo", "AzureGrader",
    "Azure", "Providers", "load_providers", "openai_training_block", "Eligibility",
]

AzureTier = Literal["global", "data_zone", "regional_us", "regional_sweden", "developer"]
AZURE_TIERS: tuple[str, ...] = ("global", "data_zone", "regional_us", "regional_sweden", "developer")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WindDownRule(_Frozen):
    """From `date` on, organizations matching `rule` can no longer create fine-tuning jobs on OpenAI."""

    date: dt.date
    rule: Literal["never_fine_tuned", "no_recent_inference", "everyone"]
    text: str
    source: str


class GraderShutdown(_Frozen):
    """An OpenAI grader model's shutdown date (first day it no longer serves)."""

    model: str
    shutdown: dt.date
    source: str


class OpenAIFacts(_Frozen):
    wind_down: tuple[WindDownRule, ...]
    graders: tuple[GraderShutdown, ...] = ()


class AzureTierInfo(_Frozen):
    """One Azure training/deployment type: whether it pays hosting and the regional inference uplift."""

    label: str
    hosting: bool
    inference_uplift: bool
    training_key: Literal["global", "regional_us", "sweden", "developer"]


class AzureInference(_Frozen):
    input: Price
    cached_input: Price
    output: Price


class AzureModel(_Frozen):
    """One fine-tunable model on Azure OpenAI."""

    snapshot: str
    aliases: tuple[str, ...] = ()
    methods: frozenset[Method]
    training_unit: Literal["per_1m_tokens", "per_hour"]
    training: dict[str, Price | None]
    inference: AzureInference
    training_until_existing: dt.date | None
    base_retirement: dt.date | None
    deployment_until: dt.date | None
    source: str
    lifecycle_source: str

    @property
    def names(self) -> tuple[str, ...]:
        return (self.snapshot, *self.aliases)

    def training_until(self, existing_customer: bool) -> dt.date | None:
        """First day new training jobs are refused: existing customers keep training to the announced date;
        others lose it when the base model retires (AZ-RET). Nobody trains past the day the fine-tuned
        deployments retire: a model trained then could never be deployed."""
        # AZ-RET gives no base retirement for the gpt-4.1 family (null in the data), so for new customers the
        # deployments' retirement is the only sourced end. Whether their training already ends at the existing
        # customers' date (the extension suggests the base retires before it) the sources do not settle.
        announced = self.training_until_existing if existing_customer else self.base_retirement
        ends = [d for d in (announced, self.deployment_until) if d is not None]
        return min(ends) if ends else None

    def training_price(self, tier: str, tiers: dict[str, AzureTierInfo]) -> Decimal | None:
        return self.training.get(tiers[tier].training_key)


class AzureGrader(_Frozen):
    model: str
    input: Price | None
    output: Price | None
    retirement: dt.date | None
    source: str
    note: str = ""


class Azure(_Frozen):
    """Azure OpenAI's fine-tuning economics."""

    currency: Literal["USD"] = "USD"
    hosting_per_hour: dict[str, Price]
    hosting_source: str
    hours_per_month: Price
    regional_uplift: Price
    rft_job_cap_usd: Price
    tiers: dict[str, AzureTierInfo]
    graders: tuple[AzureGrader, ...] = ()
    models: tuple[AzureModel, ...]
    notes: tuple[str, ...] = ()

    @functools.cached_property
    def _index(self) -> dict[str, AzureModel]:
        return {name: m for m in self.models for name in m.names}

    def resolve(self, name: str) -> AzureModel:
        """A snapshot or alias (or an OpenAI `ft:` name of it) -> the Azure entry; UnknownModel otherwise."""
        key = (name or "").strip()
        if key.startswith("ft:") and len(key.split(":")) >= 5:
            key = key.split(":")[1]
        if key in self._index:
            return self._index[key]
        raise UnknownModel(
            f"{name!r} is not fine-tunable on Azure OpenAI (fine-tunable there: "
            f"{', '.join(m.aliases[0] if m.aliases else m.snapshot for m in self.models)})"
        )

    def hosting_rate(self, region: str = "default") -> Decimal:
        if region not in self.hosting_per_hour:
            raise CatalogError(f"unknown Azure hosting region {region!r} (one of {', '.join(self.hosting_per_hour)})")
        return self.hosting_per_hour[region]

    def inference_prices(self, model: AzureModel, tier: str) -> AzureInference:
        """Tuned inference on a `tier` deployment, per 1M tokens: the base model's Global rates, times the regional
        uplift on tiers that pay it (regional Standard and Data Zone; Developer pays Global rates)."""
        uplift = self.regional_uplift if self.tiers[tier].inference_uplift else Decimal(1)
        inf = model.inference
        return AzureInference(input=inf.input * uplift, cached_input=inf.cached_input * uplift,
                              output=inf.output * uplift)

    def rft_charge(self, rate_per_hour: Decimal, hours: Decimal) -> Decimal:
        """An RFT job's training charge: its billed hours at the hourly rate, capped per job (`rft_job_cap_usd`)."""
        return min(rate_per_hour * hours, self.rft_job_cap_usd)

    def grader(self, model: str) -> AzureGrader | None:
        base = model.split("-20")[0]
        return next((g for g in self.graders if g.model in (model, base)), None)


class Providers(_Frozen):
    version: str
    effective_date: dt.date
    doc: dict[str, str] = {}
    sources: dict[str, SourceRef]
    openai: OpenAIFacts
    azure: Azure

    def source_text(self, source_id: str) -> str:
        ref = self.sources.get(source_id)
        return f"{source_id} ({ref.title}, {ref.date})" if ref else source_id

    def openai_grader_shutdown(self, model: str) -> GraderShutdown | None:
        base = model.strip().split("-20")[0]
        return next((g for g in self.openai.graders if g.model in (model.strip(), base)), None)


class Eligibility(BaseModel):
    """Whether OpenAI accepts a new fine-tuning job from this organization on `as_of`."""

    as_of: dt.date
    allowed: bool | None  # None: it depends on an answer not given
    reason: str
    source: str | None = None


def openai_training_block(
    providers: Providers, as_of: dt.date, *, has_fine_tuned_before: bool | None,
    recent_fine_tuned_inference: bool | None,
) -> Eligibility:
    """OpenAI's wind-down rules applied to an organization on `as_of` (`allowed` None when an answer is missing)."""
    unknown: list[str] = []
    for rule in sorted(providers.openai.wind_down, key=lambda r: r.date, reverse=True):
        if as_of < rule.date:
            continue
        answer = {"everyone": False, "never_fine_tuned": has_fine_tuned_before,
                  "no_recent_inference": recent_fine_tuned_inference}[rule.rule]
        if rule.rule == "everyone" or answer is False:
            return Eligibility(
                as_of=as_of, allowed=False, source=providers.source_text(rule.source),
                reason=f"OpenAI will not train this: since {rule.date.isoformat()} {rule.text}.",
            )
        if answer is None:
            unknown.append(f"since {rule.date.isoformat()} {rule.text}")
    if unknown:
        return Eligibility(as_of=as_of, allowed=None, reason="OpenAI may refuse the job: " + "; ".join(unknown)
                           + ". Say whether your organization has fine-tuned before and ran fine-tuned inference "
                             "in the last 60 days (has_fine_tuned_before, recent_fine_tuned_inference; on the "
                             "command line --has-fine-tuned-before, --recent-fine-tuned-inference).")
    return Eligibility(as_of=as_of, allowed=True, reason="OpenAI accepts new fine-tuning jobs from this organization.")


def _bundled() -> list[str]:
    folder = resources.files("ftsim.pricing.catalog")
    return sorted(i.name for i in folder.iterdir() if i.name.startswith("providers-") and i.name.endswith(".json"))


@functools.cache
def load_providers() -> Providers:
    """The newest bundled provider facts."""
    names = _bundled()
    if not names:
        raise CatalogError("no bundled provider file (pricing/catalog/providers-*.json)")
    text = (resources.files("ftsim.pricing.catalog") / names[-1]).read_text(encoding="utf-8")
    try:
        return Providers.model_validate(json.loads(text))
    except (ValidationError, json.JSONDecodeError) as exc:
        raise CatalogError(f"provider file {names[-1]} is invalid: {str(exc).splitlines()[0]}") from None
