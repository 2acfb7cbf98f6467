"""Rarely used routers join the app on their first request (api/http/lazy_routes.py `LAZY`), so that a test session's
first Simulator does not import them (issue 11). Each case runs in a fresh interpreter: in this one, earlier tests
have long since routed everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

LAZY_MODULES = [
    "ftsim.api.http.routers.chat", "ftsim.api.http.routers.responses", "ftsim.api.http.routers.graders",
    "ftsim.api.http.routers.planning", "ftsim.api.http.routers.sim", "ftsim.api.http.routers.faults",
    "ftsim.api.http.routers.azure_deployments", "ftsim.simulator.inference.chat",
    "ftsim.simulator.graders.graders", "ftsim.pricing.catalog.providers",
]

# (router module, method, path, body, status, routed before): the first request each lazy router gets in the
# fresh process. The control plane's three routers (/_sim and Azure's management paths) are routed together.
FIRST_REQUESTS = [
    ("chat", "POST", "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
     200, False),
    ("responses", "POST", "/v1/responses", {"model": "gpt-4o-mini", "input": "hi"}, 200, False),
    ("graders", "POST", "/v1/fine_tuning/alpha/graders/validate",
     {"grader": {"type": "string_check", "name": "g", "input": "{{sample.output_text}}", "reference": "x",
                 "operation": "eq"}}, 200, False),
    ("planning", "POST", "/planning/decide", {}, 400, False),  # the route's own answer: the first question is missing
    ("azure_deployments", "GET", "/subscriptions/s/resourceGroups/g/providers/Microsoft.CognitiveServices/accounts/"
     "a/deployments?api-version=2024-10-01", None, 200, False),
    ("sim", "GET", "/_sim/clock", None, 200, True),
    ("faults", "GET", "/_sim/faults", None, 200, True),
]


def _fresh(script: str) -> dict:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_simulator_imports_no_lazy_router_and_each_answers_its_first_request() -> None:
    out = _fresh(f"""
        import json, sys
        from ftsim import Simulator
        from ftsim.api.testing.transport import http_client

        sim = Simulator()
        client = sim.client()
        f = client.files.create(file=("train.jsonl", b'{{"messages": [{{"role": "user", "content": "a"}}, '
                                                     b'{{"role": "assistant", "content": "b"}}]}}\\n' * 10),
                                purpose="fine-tune")
        job = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=f.id)
        assert sim.run_until_complete(job.id).status == "succeeded"
        out = {{"after_a_job": sorted(m for m in {LAZY_MODULES!r} if m in sys.modules), "first": []}}
        http = http_client(sim.app)
        for name, method, path, body, _, _ in {FIRST_REQUESTS!r}:
            before = "ftsim.api.http.routers." + name in sys.modules
            answer = http.request(method, path, json=body, headers={{"Authorization": "Bearer sk-test"}})
            out["first"].append([name, before, answer.status_code])
        print(json.dumps(out))
    """)
    assert out["after_a_job"] == []
    assert out["first"] == [[name, before, status] for name, _, _, _, status, before in FIRST_REQUESTS]


def test_a_job_from_upload_to_succeeded_and_polled_never_imports_fastapi() -> None:
    """The fast lane answers uploads, job creation and polling; FastAPI is built on the first request it leaves
    (api/http/app.py), and then answers as ever, from the same world."""
    out = _fresh("""
        import json, sys
        from ftsim import Simulator

        sim = Simulator()
        client = sim.client()
        rows = b'{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}\\n' * 10
        f = client.files.create(file=("train.jsonl", rows), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=f.id, seed=7)
        assert sim.run_until_complete(job.id).status == "succeeded"
        model = client.fine_tuning.jobs.retrieve(job.id).fine_tuned_model
        events = [e.message for e in client.fine_tuning.jobs.list_events(job.id, limit=3).data]
        imported = sorted(m for m in ("fastapi", "ftsim.api.http.routed", "ftsim.api.http.routers.files")
                          if m in sys.modules)
        answered = client.models.retrieve(model).id  # not the lane's: FastAPI is built now
        print(json.dumps([imported, bool(model) and answered == model, len(events), "fastapi" in sys.modules]))
    """)
    assert out == [[], True, 3, True]


def test_apps_of_several_threads_build_the_shared_routes_once() -> None:
    """Two Simulators whose threads make their first request beyond the fast lane at once share one set of routes:
    the second waits for the first's instead of building its own (FastAPI solving every route twice)."""
    out = _fresh("""
        import json, threading
        from ftsim import Simulator
        from ftsim.api.http import routed

        real, entered = routed.install_error_handlers, []
        meet = threading.Barrier(2)

        def building(app):  # holds the first builder until a second one arrives (or a second has passed)
            entered.append(app)
            try:
                meet.wait(timeout=1)
            except threading.BrokenBarrierError:
                pass
            return real(app)

        routed.install_error_handlers = building
        sims = [Simulator(seed=n) for n in range(2)]
        clients = [sim.client() for sim in sims]
        threads = [threading.Thread(target=client.models.list) for client in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(json.dumps([len(entered), len({id(sim.app.fastapi().router) for sim in sims})]))
    """)
    assert out == [1, 1]


def test_the_openapi_document_lists_the_lazy_routes_before_any_was_asked_for() -> None:
    out = _fresh("""
        import json
        from ftsim import Simulator
        from ftsim.api.testing.transport import http_client

        paths = http_client(Simulator().app).get("/openapi.json").json()["paths"]
        print(json.dumps(sorted(paths)))
    """)
    for path in ("/v1/chat/completions", "/v1/responses", "/v1/fine_tuning/alpha/graders/run",
                 "/planning/compare", "/_sim/clock", "/_sim/faults", "/v1/files", "/v1/fine_tuning/jobs"):
        assert path in out


def test_azure_chat_on_a_deployment_routes_chat_after_the_dialect_rewrites_the_path() -> None:
    # Azure's /openai/deployments/{name}/chat/completions becomes /v1/chat/completions in the Azure door, outside
    # the lazy routing: the first chat request of the process may come through it.
    out = _fresh("""
        import json, sys
        from starlette.testclient import TestClient
        from ftsim import Simulator

        sim = Simulator()
        client = sim.azure_client(endpoint="https://contoso.openai.azure.com", api_key="az-lazy")
        rows = b'{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}\\n' * 10
        f = client.files.create(file=("train.jsonl", rows), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(model="gpt-4.1-mini-2025-04-14", training_file=f.id,
                                             extra_body={"trainingType": "GlobalStandard"})
        model = sim.run_until_complete(job.id).fine_tuned_model
        arm = TestClient(sim.app, base_url="https://management.azure.com", headers={"Authorization": "Bearer az-lazy"})
        path = ("/subscriptions/s/resourceGroups/g/providers/Microsoft.CognitiveServices/accounts/contoso/deployments/"
                "support?api-version=2024-10-21")
        body = {"sku": {"name": "Standard", "capacity": 1},
                "properties": {"model": {"format": "OpenAI", "name": model, "version": "1"}}}
        assert arm.put(path, json=body).status_code == 201
        sim.advance(minutes=10)
        before = "ftsim.api.http.routers.chat" in sys.modules
        answer = client.chat.completions.create(model="support", messages=[{"role": "user", "content": "hi"}])
        print(json.dumps([before, bool(answer.choices[0].message.content)]))
    """)
    assert out == [False, True]
