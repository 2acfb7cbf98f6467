"""Azure billing (issue 16): the training type kept with its job, and cost as Azure bills it, to the cent."""

from __future__ import annotations

import io
import json
from contextlib import contextmanager
from typing import Any, Iterator

import openai

from ftsim.api.testing.simulator import Simulator
from ftsim.simulator.core.tenancy import azure_tenant
from ftsim.simulator.fine_tuning.azure import TRAINING_KIND, training_type_of

ENDPOINT = "https://contoso.openai.azure.com"
MODEL = "gpt-4.1-mini-2025-04-14"


def _file(client: openai.AzureOpenAI, n: int = 12) -> str:
    rows = "".join(json.dumps({"messages": [{"role": "user", "content": f"q {i}"},
                                            {"role": "assistant", "content": f"a {i}"}]}) + "\n" for i in range(n))
    return client.files.create(file=("t.jsonl", io.BytesIO(rows.encode())), purpose="fine-tune").id


def test_training_type_is_written_in_the_jobs_own_transaction() -> None:
    """A kill -9 after the job's commit cannot lose its training type: both rows are written by one transaction."""
    with Simulator() as sim:
        client = sim.azure_client(endpoint=ENDPOINT, api_key="az-tx")
        training_file = _file(client)
        store = sim.backend.store
        writes: list[tuple[str, int]] = []
        opened = {"n": 0}
        real_transaction, real_put = store.transaction, store.put

        @contextmanager
        def counted() -> Iterator[None]:
            if not store._depth:
                opened["n"] += 1
            with real_transaction():
                yield

        def put(kind: str, *args: Any, **kwargs: Any) -> Any:
            writes.append((kind, opened["n"]))
            return real_put(kind, *args, **kwargs)

        store.transaction, store.put = counted, put  # type: ignore[method-assign]
        try:
            job = client.fine_tuning.jobs.create(model=MODEL, training_file=training_file,
                                                 extra_body={"trainingType": "developerTier"})
        finally:
            store.transaction, store.put = real_transaction, real_put  # type: ignore[method-assign]
        job_tx = {n for kind, n in writes if kind == "job"}
        type_tx = {n for kind, n in writes if kind == TRAINING_KIND}
        assert len(job_tx) == 1 and type_tx == job_tx
        assert training_type_of(sim.backend, azure_tenant(sim.backend.tenancy, "az-tx"), job.id) == "DeveloperTier"
