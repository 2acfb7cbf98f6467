"""`ftsim serve --open` (issue 17): the console's address, and the browser opened once the port listens."""

from __future__ import annotations

import socket

import pytest

from ftsim.api.cli import main
from ftsim.api.cli import serve


@pytest.mark.parametrize("host, url", [("127.0.0.1", "http://127.0.0.1:8000/"), ("0.0.0.0", "http://127.0.0.1:8000/"),
                                       ("::1", "http://[::1]:8000/"), ("::", "http://[::1]:8000/"),
                                       ("localhost", "http://localhost:8000/")])
def test_console_url(host, url):
    assert serve.console_url(host, 8000) == url


@pytest.mark.parametrize("flag", [True, False])
def test_serve_open_opens_the_console_and_prints_its_address(flag, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("FTSIM_SIM_KEY", raising=False)
    opened = []
    monkeypatch.setattr("uvicorn.run", lambda app, **k: None)
    monkeypatch.setattr("ftsim.api.cli.serve.preload_encodings", lambda backend: None)
    monkeypatch.setattr("ftsim.api.cli.serve.open_when_listening", lambda url, host, port: opened.append(url))
    args = ["serve", "--db", str(tmp_path / "s.db"), "--port", "8123"] + (["--open"] if flag else [])
    assert main(args) == 0
    assert opened == (["http://127.0.0.1:8123/"] if flag else [])
    assert "console on http://127.0.0.1:8123/" in capsys.readouterr().out


def test_open_when_listening_waits_for_the_port(monkeypatch):
    opened = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url))
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        serve.open_when_listening("http://127.0.0.1:%d/" % port, "127.0.0.1", port).join()
    assert opened == ["http://127.0.0.1:%d/" % port]


def test_open_when_listening_gives_up_quietly_on_a_closed_port(monkeypatch):
    opened = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: connections are refused
        serve.open_when_listening("http://x/", "127.0.0.1", port, attempts=2).join()
    assert opened == []
