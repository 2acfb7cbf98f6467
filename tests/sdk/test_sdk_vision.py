"""Vision fine-tuning end to end through the official SDK and the in-process test kit (audit 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftsim.api.testing.simulator import Simulator
from ftsim.pricing.catalog.catalog import load_catalog
from ftsim.pricing.costs.estimate import estimate

pytestmark = pytest.mark.sdk2

VISION_FILE = Path(__file__).resolve().parents[2] / "fixtures" / "datasets" / "vision_valid.jsonl"
VISION_MODEL = "gpt-4o-2024-08-06"


@pytest.fixture
def sim():
    s = Simulator(seed=3)
    yield s
    s.close()


def _upload(client):
    with VISION_FILE.open("rb") as fh:
        return client.files.create(file=fh, purpose="fine-tune")


@pytest.mark.parametrize("epochs", ["auto", 2])
def test_vision_job_succeeds_and_bills_what_the_planner_counts(sim, epochs):
    assert "vision" in load_catalog().resolve(VISION_MODEL).methods
    client = sim.client()
    train = _upload(client)
    hp = {} if epochs == "auto" else {"n_epochs": epochs}
    job = client.fine_tuning.jobs.create(model=VISION_MODEL, training_file=train.id,
                                         method={"type": "supervised", "supervised": {"hyperparameters": hp}})
    assert job.status == "validating_files"
    done = sim.run_until_complete(job.id)
    assert done.status == "succeeded", done.error
    planned = estimate(VISION_FILE, model=VISION_MODEL, method="vision", epochs=epochs)
    assert planned.n_images > 0 and planned.image_tokens > 0  # the images are counted, not just the text
    assert done.trained_tokens == planned.trained_tokens
    again = client.fine_tuning.jobs.retrieve(job.id)
    assert again.method.supervised.hyperparameters.n_epochs == planned.n_epochs
    assert again.fine_tuned_model.startswith(f"ft:{VISION_MODEL}:")
    ckpts = list(client.fine_tuning.jobs.checkpoints.list(job.id))
    assert ckpts[0].fine_tuned_model_checkpoint == again.fine_tuned_model


def test_vision_dataset_on_a_model_without_vision_fails_validation_asynchronously(sim):
    catalog = load_catalog()
    no_vision = next(e.snapshot for e in catalog.fine_tunable()
                     if "supervised" in e.methods and "vision" not in e.methods and e.training is not None)
    client = sim.client()
    train = _upload(client)
    job = client.fine_tuning.jobs.create(model=no_vision, training_file=train.id)
    assert job.status == "validating_files"  # accepted at once: the file is checked later, as live
    done = sim.run_until_complete(job.id)
    assert done.status == "failed"
    assert done.finished_at is None and done.trained_tokens is None and done.fine_tuned_model is None
    assert done.error.param == "training_file" and done.error.code
    assert "support image inputs" in done.error.message  # names the cause, not a generic format error
    last = client.fine_tuning.jobs.list_events(job.id, limit=1).data[0]
    assert last.level == "error" and last.message == done.error.message
