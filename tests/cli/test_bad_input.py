"""Bad input a user (or a fuzzer) gives the `ftsim` command: one line on stderr, a non-zero exit, no traceback.

Each test here was a traceback, an unbounded run or a silently ignored flag before the fix it guards.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftsim.api.cli import main

ROOT = Path(__file__).parents[2]
SUPPORT = ROOT / "fixtures" / "scenarios" / "support-bot.toml"
COST_PLAY = ROOT / "fixtures" / "answers" / "sft-cost-play.toml"
COMPARE = ["compare", "--model", "gpt-4.1-mini", "--calls-per-month", "100000", "--system-prompt-tokens", "2000",
           "--input-tokens", "500", "--output-tokens", "300"]


def one_line(err: str) -> bool:
    """A single `ftsim: ...` line, or argparse's usage error ending in one `error:` line."""
    lines = err.strip().splitlines()
    if "Traceback" in err or not lines:
        return False
    return len(lines) == 1 and lines[0].startswith("ftsim: ") or (
        lines[0].startswith("usage: ") and "error: " in lines[-1])


def run(argv: list[str], capsys) -> tuple[int, str]:
    """main(argv) as the console script runs it: an argparse exit becomes its code."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


# --- an as-of date near the end of the calendar ------------------------------------------------------------------

FAR_DATES = st.dates(min_value=dt.date(9990, 1, 1), max_value=dt.date.max)


@pytest.mark.parametrize("argv", [
    COMPARE,
    [*COMPARE, "--provider", "both"],
    ["whatif", str(SUPPORT), "--rows", "0"],
    ["decide", "--answers", str(COST_PLAY)],
])
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(day=FAR_DATES)
def test_a_far_today_is_a_usage_error(argv, day, capsys):
    code, err = run([*argv, "--today", day.isoformat()], capsys)
    assert code == 2 and one_line(err) and "--today" in err


def test_a_far_today_in_a_scenario_or_answers_file_is_one_line(tmp_path, capsys):
    scenario = tmp_path / "far.toml"
    scenario.write_text(SUPPORT.read_text(encoding="utf-8").replace("today = 2026-11-22", "today = 9999-12-31"),
                        encoding="utf-8")
    code, err = run(["whatif", str(scenario)], capsys)
    assert code == 1 and one_line(err) and "today" in err
    answers = tmp_path / "far-answers.toml"
    answers.write_text(COST_PLAY.read_text(encoding="utf-8").replace("today = 2026-11-22", "today = 9999-12-31"),
                       encoding="utf-8")
    code, err = run(["decide", "--answers", str(answers)], capsys)
    assert code == 2 and one_line(err) and "today" in err and "year 10000" not in err


# --- what-if ranges whose point count overflows ---------------------------------------------------------------------

@pytest.mark.parametrize("spec", [
    "{ start = 0, stop = inf, step = 1 }",
    "{ start = 0, stop = 1e300, step = 1e-300 }",
    "{ start = -1e308, stop = 1e308, step = 1e300 }",
    "{ start = nan, stop = 5, step = 1 }",
    "{ start = 0, stop = 5, step = inf }",
    "{ start = 0, stop = nan, num = 3 }",
])
def test_non_finite_ranges_are_one_line(tmp_path, capsys, spec):
    text = SUPPORT.read_text(encoding="utf-8")
    start = text.index("calls_per_month = {")
    line = text[start:text.index("\n", start)]
    scenario = tmp_path / "range.toml"
    scenario.write_text(text.replace(line, f"calls_per_month = {spec}"), encoding="utf-8")
    code, err = run(["whatif", str(scenario), "--rows", "0"], capsys)
    assert code == 1 and one_line(err) and "calls_per_month" in err and "NaN to integer" not in err


# --- serve: numbers and choices argparse let through ----------------------------------------------------------------

@pytest.fixture
def no_server(monkeypatch):
    """A serve that gets as far as starting uvicorn fails the test instead of listening."""
    import uvicorn

    def refuse(*args, **kwargs):
        raise AssertionError("the server started")

    monkeypatch.setattr(uvicorn, "run", refuse)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.sampled_from(["nan", "NaN", "inf", "-inf", "1e400", "-1e400", "1e308", "abc", "", "0x10"])
       | st.floats(allow_nan=True, allow_infinity=True).filter(lambda v: not 0 <= v <= 1_000_000).map(repr))
def test_serve_speed_must_be_a_finite_sensible_number(text, capsys, no_server):
    code, err = run(["serve", "--db", ":memory:", f"--speed={text}"], capsys)
    assert code == 2 and one_line(err) and "--speed" in err


def test_serve_unknown_log_level_is_a_usage_error(capsys, no_server):
    code, err = run(["serve", "--db", ":memory:", "--log-level", "bogus"], capsys)
    assert code == 2 and one_line(err) and "--log-level" in err


# --- what-if: a grid too big to hold ----------------------------------------------------------------------------------

@pytest.fixture
def no_evaluation(monkeypatch):
    """A grid that reaches evaluation fails the test instead of running for hours."""
    from ftsim.pricing.planning import whatif, whatif_grid

    def refuse(*args, **kwargs):
        raise AssertionError("the grid was evaluated")

    monkeypatch.setattr(whatif, "evaluate", refuse)
    monkeypatch.setattr(whatif_grid, "evaluate_grid", refuse)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(min_value=2, max_value=5_000), min_size=3, max_size=4).filter(
    lambda sizes: __import__("math").prod(sizes) > 5_000_000))
def test_a_grid_beyond_the_row_bound_is_refused_before_evaluation(tmp_path_factory, capsys, no_evaluation, sizes):
    names = ["calls_per_month", "system_prompt_tokens", "input_tokens", "output_tokens"]
    sweep = "\n".join(f"{name} = {{ start = 1, stop = {n}, step = 1 }}" for name, n in zip(names, sizes))
    scenario = tmp_path_factory.mktemp("grid") / "huge.toml"
    scenario.write_text('[baseline]\nmodel = "gpt-4.1-mini"\ncalls_per_month = 1\nsystem_prompt_tokens = 1\n'
                        f'input_tokens = 1\noutput_tokens = 1\n[sweep]\n{sweep}\n', encoding="utf-8")
    code, err = run(["whatif", str(scenario), "--rows", "0"], capsys)
    assert code == 1 and one_line(err) and "rows" in err and "5,000,000" in err


# --- validate: --workers -----------------------------------------------------------------------------------------------

@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(workers=st.integers(min_value=65, max_value=10**30))
def test_validate_refuses_more_workers_than_the_bound(capsys, workers):
    dataset = str(ROOT / "fixtures" / "datasets" / "sft_valid.jsonl")
    code, err = run(["validate", dataset, "--workers", str(workers)], capsys)
    assert code == 2 and one_line(err) and "--workers" in err


# --- Ctrl-C in a scan worker ----------------------------------------------------------------------------------------

def _interrupted_scan(job, start, end, first_line):
    import os
    import signal

    os.kill(os.getpid(), signal.SIGINT)  # what a terminal's Ctrl-C does to every process of the foreground group
    return ("scanned", start, end)


def test_a_scan_worker_leaves_ctrl_c_to_the_parent():
    """The worker finishes quietly (exit 0, its chunk delivered): the parent alone reports the interrupt."""
    import multiprocessing

    from ftsim.pricing.dataset.scan_pool import _worker

    context = multiprocessing.get_context("fork")
    counter = context.Value("q", 0)
    recv, send = context.Pipe(duplex=False)
    proc = context.Process(target=_worker, args=(_interrupted_scan, None, [(0, 10, 1)], counter, send))
    proc.start()
    send.close()
    messages = []
    while True:
        try:
            messages.append(recv.recv())
        except EOFError:
            break
    proc.join()
    assert proc.exitcode == 0 and messages == [(0, ("scanned", 0, 10)), None]


# --- whatif --out: an interrupted write keeps the previous report ----------------------------------------------------

def test_an_interrupted_report_write_leaves_the_old_file(tmp_path, capsys, monkeypatch):
    from ftsim.pricing.reports import report

    out = tmp_path / "report.csv"
    out.write_text("previous report\n", encoding="utf-8")

    def interrupted_csv(grid, stream, *args, **kwargs):
        stream.write(b"half,a,row")
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "write_csv", interrupted_csv)
    code, err = run(["whatif", str(SUPPORT), "--out", str(out)], capsys)
    assert code == 130 and err == "ftsim: interrupted\n"
    assert out.read_text(encoding="utf-8") == "previous report\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.csv"]  # no temporary file left behind


@pytest.mark.parametrize("name", ["report.csv", "report.md", "report.html"])
def test_a_report_replaces_the_old_one_whole_and_readable(tmp_path, capsys, name):
    import os
    import stat

    out = tmp_path / name
    out.write_text("previous report\n", encoding="utf-8")
    mask = os.umask(0o022)
    try:
        assert main(["whatif", str(SUPPORT), "--out", str(out)]) == 0
    finally:
        os.umask(mask)
    assert "previous report" not in out.read_text(encoding="utf-8") and "126 rows" in capsys.readouterr().out
    assert stat.S_IMODE(out.stat().st_mode) == 0o644 and [p.name for p in tmp_path.iterdir()] == [name]


# --- prices: a flag the chosen provider would ignore -----------------------------------------------------------------

def test_prices_refuses_a_catalog_it_would_not_read(tmp_path, capsys):
    catalog = tmp_path / "catalog.json"
    catalog.write_text("{not json", encoding="utf-8")
    code, err = run(["prices", "--provider", "azure", "--catalog", str(catalog)], capsys)
    assert code == 2 and one_line(err) and "--catalog" in err


# --- estimate --epochs: only ASCII whole numbers 1..50 or auto -------------------------------------------------------

@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(min_size=1, max_size=6).filter(
    lambda t: t != "auto" and not (t.isascii() and t.isdigit() and 1 <= int(t) <= 50) and not t.startswith("-")))
def test_estimate_epochs_outside_auto_or_1_to_50_is_refused_clearly(capsys, text):
    dataset = str(ROOT / "fixtures" / "datasets" / "sft_valid.jsonl")
    code, err = run(["estimate", dataset, "--model", "gpt-4o-mini", f"--epochs={text}"], capsys)
    assert code == 2 and one_line(err) and "must be 'auto' or an integer 1..50" in err


@pytest.mark.parametrize("text", ["²", "٣", "0", "51", "3.0", "1e1", "03x"])
def test_estimate_epochs_unicode_digits_and_out_of_range(capsys, text):
    dataset = str(ROOT / "fixtures" / "datasets" / "sft_valid.jsonl")
    code, err = run(["estimate", dataset, "--model", "gpt-4o-mini", f"--epochs={text}"], capsys)
    assert code == 2 and one_line(err) and "must be 'auto' or an integer 1..50" in err


# --- progress on long work: compare --training-file scans a dataset like estimate does ---------------------------

@pytest.mark.parametrize("provider", ["openai", "both"])
def test_compare_training_file_scan_reports_progress(monkeypatch, capsys, provider):
    from contextlib import contextmanager

    from ftsim.api.cli import progress as progress_mod

    dataset = ROOT / "fixtures" / "datasets" / "sft_valid.jsonl"
    calls: list[tuple[str, int, int]] = []

    @contextmanager
    def spy(path, label, *, enabled=True):
        yield lambda done, total: calls.append((str(path), done, total))

    monkeypatch.setattr(progress_mod, "scan_progress", spy)
    assert main([*COMPARE, "--training-file", str(dataset), "--provider", provider, "--today", "2026-11-22"]) == 0
    assert calls and calls[-1] == (str(dataset), dataset.stat().st_size, dataset.stat().st_size)


# --- a device (or pipe) where a file is expected: never read without end -------------------------------------------

DATASET = str(ROOT / "fixtures" / "datasets" / "sft_valid.jsonl")


@pytest.mark.parametrize("argv", [
    ["validate", "/dev/zero"],
    ["estimate", "/dev/zero", "--model", "gpt-4o-mini"],
    ["estimate", DATASET, "--model", "gpt-4o-mini", "--validation-file", "/dev/zero"],
    ["estimate", DATASET, "--model", "gpt-4o-mini", "--catalog", "/dev/zero"],
    ["prices", "--catalog", "/dev/zero"],
    [*COMPARE, "--catalog", "/dev/zero"],
    ["whatif", "/dev/zero"],
    ["whatif", str(SUPPORT), "--catalog", "/dev/zero"],
    ["decide", "--answers", "/dev/zero"],
    ["serve", "--db", ":memory:", "--keys", "/dev/zero"],
])
def test_a_device_instead_of_a_file_is_one_line(argv):
    """Run in a child limited to 1 GB of memory: reading /dev/zero to its end would otherwise take the machine's."""
    import resource
    import subprocess
    import sys

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    proc = subprocess.run([sys.executable, "-m", "ftsim", *argv], capture_output=True, text=True, timeout=120,
                          preexec_fn=limit, stdin=subprocess.DEVNULL)
    assert proc.returncode in (1, 2) and one_line(proc.stderr) and "/dev/zero" in proc.stderr
    assert "regular file" in proc.stderr


# --- stdout that cannot be written (a full disk) ---------------------------------------------------------------------

@pytest.mark.parametrize("argv", [["prices"], ["validate", DATASET, "--json"], ["doctor"], [*COMPARE, "--json"]])
def test_a_full_disk_on_stdout_is_one_line(argv):
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "ftsim", *argv], stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1 and one_line(proc.stderr) and "No space left on device" in proc.stderr


# --- empty values that were silently taken as "not given" ------------------------------------------------------------

@pytest.mark.parametrize("argv, needle", [
    (["whatif", str(SUPPORT), "--out", ""], "report format"),
    (["validate", DATASET, "--model", ""], "model name is empty"),
])
def test_an_empty_value_is_refused_not_ignored(capsys, argv, needle):
    code, err = run(argv, capsys)
    assert code == 2 and one_line(err) and needle in err


# --- decide: input ending at a prompt ----------------------------------------------------------------------------

@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_input_ending_at_a_prompt_gives_the_error_its_own_line(monkeypatch, capsys, json_flag):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, err = run(["decide", *json_flag], capsys)
    assert code == 1
    assert err.splitlines()[-1] == "ftsim: no answer to 'fact_retrieval' (input ended)"


def test_decide_help_names_the_answers_file_date_as_the_default(capsys):
    with pytest.raises(SystemExit):
        main(["decide", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "default: the answers file's today, else today" in out


def test_a_grid_of_wide_ranges_is_refused_before_its_points_are_built(tmp_path, capsys, monkeypatch):
    """Ten 10,000,000-point ranges: the row bound is checked on the counts, not on 100 million built points."""
    from ftsim.pricing.planning import whatif

    def refuse(self):
        raise AssertionError("the range's points were built")

    monkeypatch.setattr(whatif.RangeSpec, "values", refuse)
    names = ["calls_per_month", "system_prompt_tokens", "input_tokens", "output_tokens"]
    sweep = "\n".join(f"{name} = {{ start = 0, stop = 1, num = 10000000 }}" for name in names)
    scenario = tmp_path / "wide.toml"
    scenario.write_text('[baseline]\nmodel = "gpt-4.1-mini"\ncalls_per_month = 1\nsystem_prompt_tokens = 1\n'
                        f'input_tokens = 1\noutput_tokens = 1\n[sweep]\n{sweep}\n', encoding="utf-8")
    code, err = run(["whatif", str(scenario), "--rows", "0"], capsys)
    assert code == 1 and one_line(err) and "5,000,000" in err


def test_serve_on_a_taken_port_is_one_line_before_claiming_to_serve(capsys, no_server):
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = run(["serve", "--db", ":memory:", "--port", str(port)], capsys)
    assert code == 1 and one_line(err) and f"cannot listen on 127.0.0.1:{port}" in err


@pytest.mark.parametrize("argv, usage, meant", [
    (COMPARE + ["--cached-fractoin", "0.3"], "usage: ftsim compare", "--cached-fraction"),
    (["serve", "--sped", "0"], "usage: ftsim serve", "--speed"),
    (["whatif", str(SUPPORT), "--out=report.html", "--toady", "2026-12-06"], "usage: ftsim whatif", "--today"),
    (["estimate", "x.jsonl", "--model", "m", "--frobnicate"], "usage: ftsim estimate", None),
])
def test_a_mistyped_option_shows_the_subcommands_usage_and_the_option_meant(argv, usage, meant, capsys):
    """It showed `usage: ftsim [-h] [--version] COMMAND ...`, which lists no option of the subcommand."""
    code, err = run(argv, capsys)
    assert code == 2 and one_line(err) and err.startswith(usage)
    last = err.strip().splitlines()[-1]
    assert "unrecognized arguments" in last
    assert (f"(did you mean {meant}?)" in last) if meant else "did you mean" not in last


def test_a_report_into_a_missing_folder_is_refused_before_the_grid(tmp_path, capsys, monkeypatch):
    """It evaluated the grid, then named the report's hidden temporary file (`.report.html.xxxx.part`)."""
    import ftsim.pricing.planning.whatif as whatif

    def evaluated(*args, **kwargs):
        raise AssertionError("the grid was evaluated")

    monkeypatch.setattr(whatif, "evaluate", evaluated)
    out = tmp_path / "missing" / "report.html"
    code, err = run(["whatif", str(SUPPORT), "--out", str(out)], capsys)
    assert code == 1 and one_line(err)
    assert err.strip() == f"ftsim: cannot write {out}: there is no folder {out.parent}"
