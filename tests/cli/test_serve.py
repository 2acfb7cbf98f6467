"""`ftsim serve`: arguments become a backend; bad arguments are one line, never a traceback."""

from __future__ import annotations

import json

import pytest

from ftsim.api.cli import build_parser, main
from ftsim.api.cli.serve import build_backend


def parse(*argv):
    return build_parser().parse_args(["serve", *argv])


def test_defaults_bind_loopback_on_sqlite_file():
    args = parse()
    assert args.host == "127.0.0.1" and args.port == 8000
    assert args.db == ".ftsim/ftsim.db" and args.speed == 60 and args.lifecycle == "warn"
    assert args.durability == "process"


@pytest.mark.parametrize("durability,pragma", [("process", 1), ("full", 2)])
def test_durability_reaches_the_store(tmp_path, durability, pragma):
    backend = build_backend(parse("--db", str(tmp_path / "s.db"), "--durability", durability))
    try:
        assert backend.store.durability == durability
        assert backend.store._conn.execute("PRAGMA synchronous").fetchone()[0] == pragma
    finally:
        backend.close()


def test_build_backend_uses_the_given_db_speed_and_keys(tmp_path):
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"sk-1": {"org_id": "org-acme", "org_slug": "acme"}}))
    backend = build_backend(parse("--db", str(tmp_path / "s.db"), "--speed", "0", "--keys", str(keys), "--seed", "7"))
    try:
        assert backend.clock.speed == 0 and backend.config.seed == 7
        assert backend.tenant("sk-1").org_slug == "acme"
        assert (tmp_path / "s.db").exists()
    finally:
        backend.close()


def test_strict_keys_need_a_keys_file(tmp_path, capsys):
    assert main(["serve", "--db", str(tmp_path / "s.db"), "--strict-keys"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--keys" in err


def test_strict_keys_reach_the_backend(tmp_path):
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"sk-1": {"org_id": "org-acme"}}))
    backend = build_backend(parse("--db", str(tmp_path / "s.db"), "--keys", str(keys), "--strict-keys"))
    try:
        assert backend.config.strict_keys and backend.tenancy.knows("sk-1") and not backend.tenancy.knows("sk-2")
    finally:
        backend.close()


def test_another_programs_database_is_one_line(tmp_path, capsys):
    import sqlite3

    db = tmp_path / "theirs.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.commit()
    conn.close()
    assert main(["serve", "--db", str(db)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not an ftsim database" in err


def test_bad_keys_file_exits_2_with_one_line(tmp_path, capsys):
    keys = tmp_path / "keys.json"
    keys.write_text("nope")
    code = main(["serve", "--keys", str(keys), "--db", ":memory:"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("ftsim: ") and err.count("\n") == 1


def test_negative_speed_is_refused(capsys):
    with pytest.raises(SystemExit) as exc:  # argparse's usage error, like every other number out of range
        main(["serve", "--speed", "-1", "--db", ":memory:"])
    assert exc.value.code == 2
    assert "--speed" in capsys.readouterr().err


def test_bad_choice_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--lifecycle", "maybe"])
    assert exc.value.code == 2


@pytest.mark.parametrize("argv,needle", [(["--port", "99999"], "--port"), (["--port", "0"], "--port"),
                                         (["--max-concurrent-jobs", "0"], "--max-concurrent-jobs")])
def test_out_of_range_numbers_are_usage_errors(argv, needle, capsys):
    assert main(["serve", "--db", ":memory:", *argv]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_unopenable_database_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a file where a folder is needed
    assert main(["serve", "--db", str(blocker / "sub" / "db.sqlite")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ftsim: ") and err.count("\n") == 1 and "Traceback" not in err


def test_database_that_is_a_directory_is_one_line(tmp_path, capsys):
    assert main(["serve", "--db", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "cannot open the database" in err and err.count("\n") == 1


def test_serve_stops_with_one_line_when_a_tokenizer_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("ftsim.pricing.dataset.tokenizer.bundled_dir", lambda: tmp_path)  # cached per directory
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: pytest.fail("must not serve without a tokenizer"))
    code = main(["serve", "--db", ":memory:"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("ftsim: ") and err.count("\n") == 1
    assert "reinstall" in err


# -- the control plane (issue 13, defect 8) -------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.internal"])
def test_a_non_loopback_host_without_a_sim_key_is_refused(host, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("FTSIM_SIM_KEY", raising=False)
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: pytest.fail("must not serve an open control plane"))
    assert main(["serve", "--host", host, "--db", str(tmp_path / "s.db")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--sim-key" in err and "--unsafe-open-control-plane" in err
    assert not (tmp_path / "s.db").exists()


@pytest.mark.parametrize("flags", [["--sim-key", "k-123"], ["--unsafe-open-control-plane"]])
def test_a_sim_key_or_the_unsafe_flag_allows_any_host(flags, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("FTSIM_SIM_KEY", raising=False)
    seen = {}
    monkeypatch.setattr("uvicorn.run", lambda app, **k: seen.update(app=app, **k))
    monkeypatch.setattr("ftsim.api.cli.serve.preload_encodings", lambda backend: None)
    assert main(["serve", "--host", "0.0.0.0", "--db", str(tmp_path / "s.db"), *flags]) == 0
    assert seen["host"] == "0.0.0.0"
    assert seen["app"].state.sim_key == (flags[1] if flags[0] == "--sim-key" else None)
    out = capsys.readouterr().out
    assert ("WARNING" in out) == (flags[0] == "--unsafe-open-control-plane")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1"])
def test_loopback_hosts_need_no_sim_key(host, monkeypatch):
    from ftsim.api.cli.serve import check_control_plane

    monkeypatch.delenv("FTSIM_SIM_KEY", raising=False)
    check_control_plane(parse("--host", host))  # no CliError


def test_the_sim_key_can_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("FTSIM_SIM_KEY", "from-env")
    assert parse("--host", "0.0.0.0").sim_key == "from-env"
