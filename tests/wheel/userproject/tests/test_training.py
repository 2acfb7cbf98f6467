"""The project's pipeline tested with ftsim's pytest fixture: upload to `succeeded`, offline."""

import openai
from api.training import train

import ftsim as ftsim_package

DATA = b"".join(
    b'{"messages": [{"role": "user", "content": "Q%d"}, {"role": "assistant", "content": "A%d"}]}\n' % (i, i)
    for i in range(10)
)


def test_job_runs_from_upload_to_succeeded(ftsim):
    client = ftsim.client()
    assert isinstance(client, openai.OpenAI)
    job_id = train(client, DATA)
    job = ftsim.run_until_complete(job_id)
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model.startswith("ft:gpt-4o-mini-2024-07-18:")
    assert job.fine_tuned_model.split(":")[3] == "bikes"
    assert job.trained_tokens > 0


def test_public_surface():
    assert isinstance(ftsim_package.__version__, str)
    assert ftsim_package.Simulator.__module__.startswith("ftsim.")
    assert issubclass(ftsim_package.SimulatorStuck, Exception)
