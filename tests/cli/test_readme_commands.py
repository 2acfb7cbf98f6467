"""The README's `ftsim` commands name subcommands and flags that exist, and its server options table is `ftsim serve`'s.

tests/sdk/test_readme_examples.py runs the README's Python examples; this covers its command lines: every
`ftsim SUBCOMMAND --flag` the README shows (in console blocks and in inline code), and the "Server options" table
(every option of the parser has a row, no row names a missing option, and each stated default is the parser's).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from ftsim.api.cli import build_parser

README = Path(__file__).resolve().parents[2] / "README.md"
TEXT = README.read_text(encoding="utf-8")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _commands() -> list[str]:
    """Each `ftsim ...` command line of the README: console/sh block lines (with their continuations) and inline code."""
    found = []
    for block in re.findall(r"```(?:console|sh)\n(.*?)```", TEXT, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split("#", 1)[0]
            match = re.search(r"(?:^\$ |^|/)ftsim (.*)", line.strip())
            if match:
                found.append("ftsim " + match.group(1).strip())
    for span in re.findall(r"`([^`\n]+)`", TEXT):
        match = re.search(r"(?:^|/)ftsim ([a-z].*)", span)
        if match:
            found.append("ftsim " + match.group(1).strip())
    return sorted(set(found))


COMMANDS = _commands()


def test_the_readme_shows_every_subcommand():
    shown = {command.split()[1] for command in COMMANDS}
    assert set(_subparsers(build_parser())) <= shown


@pytest.mark.parametrize("command", COMMANDS)
def test_each_readme_command_names_a_subcommand_and_flags_that_exist(command):
    words = command.split()
    subparsers = _subparsers(build_parser())
    assert words[1] in subparsers, f"no subcommand {words[1]!r}"
    options = {s for a in subparsers[words[1]]._actions for s in a.option_strings}
    flags = re.findall(r"(?<![\w-])--[a-z][a-z-]*", command)
    assert sorted(set(flags) - options) == []


def _server_options_table() -> list[tuple[list[str], str]]:
    section = TEXT.split("\n## Server options\n", 1)[1].split("\n#", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if len(cells) == 3 and cells[0].startswith("`--"):
            options = [re.match(r"--[a-z-]+", o).group(0) for o in re.findall(r"`([^`]+)`", cells[0])]
            rows.append((options, cells[1]))
    return rows


def _serve_actions(monkeypatch) -> dict[str, argparse.Action]:
    monkeypatch.delenv("FTSIM_SIM_KEY", raising=False)  # the parser reads it as --sim-key's default
    serve = _subparsers(build_parser())["serve"]
    return {a.option_strings[0]: a for a in serve._actions if a.option_strings and a.dest != "help"}


def test_the_server_options_table_lists_every_serve_option_once(monkeypatch):
    listed = [o for options, _ in _server_options_table() for o in options]
    assert len(listed) == len(set(listed))
    assert sorted(listed) == sorted(_serve_actions(monkeypatch))


def _expected(word: str):
    """A default as the table states it: `off` is a flag not given; `none` and `bundled` are no value."""
    word = word.strip().strip("`")
    return {"off": False, "none": None, "bundled": None}.get(word, word)


def test_the_server_options_table_states_the_parser_defaults(monkeypatch):
    actions = _serve_actions(monkeypatch)
    for options, default in _server_options_table():
        if default.startswith("`$FTSIM_SIM_KEY`"):  # the environment's, else none
            words = ["none"]
        else:
            words = default.split(", ")
        assert len(words) == len(options), (options, default)
        for option, word in zip(options, words):
            actual, expected = actions[option].default, _expected(word)
            if isinstance(actual, bool) or actual is None or isinstance(actual, str):
                assert actual == expected, (option, default)
            else:
                assert float(actual) == float(expected), (option, default)


# Flags the README quotes for other programs: pip's, pytest's and `python -m bench`'s.
OTHER_PROGRAMS = {"--no-index", "--co", "--size-mb"}


def test_every_flag_in_the_readme_prose_is_an_ftsim_option():
    """Prose names flags without their command (`--has-fine-tuned-before yes|no`): each is some subcommand's."""
    parser = build_parser()
    options = {s for sub in _subparsers(parser).values() for a in sub._actions for s in a.option_strings}
    options |= {s for a in parser._actions for s in a.option_strings}
    quoted = {f for span in re.findall(r"`([^`\n]+)`", TEXT) for f in re.findall(r"(?<![\w-])--[a-z][a-z-]*", span)}
    assert sorted(quoted - options - OTHER_PROGRAMS) == []
