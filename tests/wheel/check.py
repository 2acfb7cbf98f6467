"""`make test-wheel`: ftsim as a library user gets it, proven on a built wheel (issue 11's proof).

1. Build the wheel and the sdist. The wheel's top-level names must be exactly `ftsim` (plus its dist-info); the
   sdist must carry tests/, fixtures/, LICENSE and CHANGELOG.md.
2. Install the wheel, core only (no extra), into a fresh virtual environment beside pytest.
3. Reinstall it with `--no-index` and no configured index or find-links: with its dependencies present, a
   library user installs it offline.
4. No pytest plugin loads in that environment except ours and those pytest and openai bring themselves.
5. Copy tests/wheel/userproject (a project with its own `api/` and `pricing/` packages) to a scratch folder and
   run its tests with `pytest` and with `python -m pytest`, with HOME at an empty folder, an empty tokenizer
   cache, no npm on PATH and every proxy variable pointing at a closed port (no network): its own tests import
   its own modules, and a test using the `ftsim` fixture runs a job from upload to `succeeded`. Afterwards the
   tokenizer cache and HOME are still empty: nothing was provisioned or downloaded.
6. `ftsim --version` and `python -m ftsim --version` agree; a command that needs an extra says which in one line;
   `ftsim examples` writes the README's example files from the installed wheel.

Exit status 0 when every check holds; otherwise the first failed check is printed and the status is 1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = Path(__file__).resolve().parent / "userproject"
CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens, so any network attempt fails at once

# Reported by the plugin check below: a pytest11 entry point from any other distribution than these is a plugin
# that loads in every pytest session of a library user because of us.
OURS = "ftsim-openai"


class CheckFailed(Exception):
    pass


def run(cmd: list[str | Path], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    """Run a command; its output, or CheckFailed with the command and the tail of its output."""
    shown = " ".join(str(c) if "\n" not in str(c) else "<script>" for c in cmd)
    print(f"$ {shown}", flush=True)
    out = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise CheckFailed(f"`{shown}` exited {out.returncode}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out.stdout + out.stderr


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)
    print(f"ok: {message}", flush=True)


def build(python: str, dist: Path) -> tuple[Path, Path]:
    # No flags: the sdist is built first and the wheel from it, so a file missing from the sdist breaks the wheel.
    run([python, "-m", "build", "--outdir", dist, ROOT])
    wheels, sdists = list(dist.glob("*.whl")), list(dist.glob("*.tar.gz"))
    check(len(wheels) == 1 and len(sdists) == 1, f"one wheel and one sdist built ({[p.name for p in dist.iterdir()]})")
    return wheels[0], sdists[0]


def check_wheel(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    check(top == {"ftsim"}, f"the wheel's only top-level name is ftsim (found {sorted(top)})")
    for required in ("ftsim/py.typed", "ftsim/pricing/dataset/encodings/o200k_base.tiktoken",
                     "ftsim/pricing/dataset/encodings/cl100k_base.tiktoken",
                     # the README's examples, which `ftsim examples` writes out for a pip user
                     "ftsim/examples/answers/sft-cost-play.toml", "ftsim/examples/scenarios/support-bot.toml",
                     "ftsim/examples/datasets/sft_valid.jsonl"):
        check(required in names, f"the wheel carries {required}")
    check(not any(n.startswith(("ftsim/examples/azure/", "ftsim/examples/live/")) for n in names),
          "the wheel's examples leave out the test suite's Azure specs and live captures")
    stray = [n for n in names if "/tests/" in n or n.startswith(("tests/", "fixtures/"))]
    check(not stray, "the wheel carries no test files")


def check_sdist(sdist: Path) -> None:
    members = tarfile.open(sdist).getnames()
    root = members[0].split("/", 1)[0]
    inside = {m.split("/", 1)[1] for m in members if "/" in m}
    for required in ("LICENSE", "CHANGELOG.md", "README.md", "tests/conftest.py", "tests/wheel/check.py",
                     "tests/wheel/userproject/api/health.py", "fixtures/datasets/sft_valid.jsonl"):
        check(required in inside, f"the sdist ({root}) carries {required}")
    check("tests/node/package-lock.json" in inside, f"the sdist ({root}) carries the Node test's lock file")
    check(not any(m.startswith("tests/node/node_modules") for m in inside),
          f"the sdist ({root}) carries no installed Node packages")


def fresh_venv(base_python: str, where: Path) -> Path:
    run([base_python, "-m", "venv", where])
    return where / "bin" / "python"


def install(py: Path, wheel: Path) -> None:
    run([py, "-m", "pip", "install", "--quiet", f"{wheel}", "pytest"])
    names = run([py, "-m", "pip", "list", "--format=freeze"]).lower()
    for extra_only in ("uvicorn", "pandas", "rich", "hypothesis", "respx", "numpy"):
        check(f"\n{extra_only}==" not in f"\n{names}", f"the core install does not bring {extra_only}")
    # Offline: only the wheel file is offered (no index, no configured find-links or extra index).
    run([py, "-m", "pip", "uninstall", "--quiet", "--yes", OURS])
    offline = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": "", "PIP_NO_INDEX": "1",
               "HTTPS_PROXY": CLOSED, "HTTP_PROXY": CLOSED, "ALL_PROXY": CLOSED}
    run([py, "-m", "pip", "install", "--quiet", "--no-index", f"{wheel}"], env=offline)
    check(OURS in run([py, "-m", "pip", "list"]).lower(), "pip install --no-index of the wheel works offline")


PLUGINS = r"""
import importlib.metadata as md, json, re
def norm(n): return re.sub(r"[-_.]+", "-", n).lower()
def closure(root):
    seen, todo = set(), [root]
    while todo:
        name = norm(todo.pop())
        if name in seen: continue
        seen.add(name)
        try: reqs = md.requires(name) or []
        except md.PackageNotFoundError: continue
        todo += [re.split(r"[\s;\[<>=!~(]", r, 1)[0] for r in reqs if "extra ==" not in r]
    return seen
plugins = sorted({norm(ep.dist.name) for ep in md.entry_points(group="pytest11")})
print(json.dumps({"plugins": plugins, "theirs": sorted(closure("pytest") | closure("openai"))}))
"""

LOADED = r"""
import pytest, json
from _pytest.config import get_config
config = get_config()
config.pluginmanager.load_setuptools_entrypoints("pytest11")
print(json.dumps(sorted(dist.project_name for _, dist in config.pluginmanager.list_plugin_distinfo())))
"""


def check_plugins(py: Path) -> None:
    import json

    found = json.loads(run([py, "-c", PLUGINS]).strip().splitlines()[-1])
    others = [p for p in found["plugins"] if p != OURS and p not in found["theirs"]]
    check(OURS in found["plugins"], "ftsim's pytest plugin is registered (pytest11 entry point)")
    check(not others, f"no other pytest plugin is installed because of ftsim (others: {others}; "
                      f"from pytest and openai themselves: {[p for p in found['plugins'] if p != OURS]})")
    loaded = json.loads(run([py, "-c", LOADED]).strip().splitlines()[-1])
    print(f"   pytest's plugin manager loads: {loaded}")


def user_env(venv: Path, scratch: Path) -> dict[str, str]:
    home, cache = scratch / "home", scratch / "tiktoken-cache"
    home.mkdir()
    cache.mkdir()
    env = {"PATH": str(venv / "bin"), "HOME": str(home), "TIKTOKEN_CACHE_DIR": str(cache), "LANG": "C.UTF-8",
           "HTTPS_PROXY": CLOSED, "HTTP_PROXY": CLOSED, "ALL_PROXY": CLOSED,
           "https_proxy": CLOSED, "http_proxy": CLOSED, "NO_PROXY": "", "TMPDIR": str(scratch)}
    check(shutil.which("npm", path=env["PATH"]) is None, "no npm on the tests' PATH")
    return env


def run_user_tests(venv: Path, scratch: Path) -> None:
    project = scratch / "project"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    env = user_env(venv, scratch)
    py = venv / "bin" / "python"
    for label, cmd in (("pytest", [venv / "bin" / "pytest", "-q"]), ("python -m pytest", [py, "-m", "pytest", "-q"])):
        out = run(cmd, env=env, cwd=project)
        check("4 passed" in out and "skipped" not in out, f"the user project's 4 tests pass under `{label}`")
    check(not any((scratch / "tiktoken-cache").iterdir()), "the tokenizer cache is still empty (nothing downloaded)")
    check(not any((scratch / "home").iterdir()), "HOME is still empty (nothing provisioned)")
    version = run([venv / "bin" / "ftsim", "--version"], env=env).strip()
    check(version == run([py, "-m", "ftsim", "--version"], env=env).strip() and version.startswith("ftsim "),
          f"`ftsim --version` equals `python -m ftsim --version` ({version})")
    serve = subprocess.run([venv / "bin" / "ftsim", "serve"], env=env, capture_output=True, text=True, check=False)
    lines = serve.stderr.strip().splitlines()
    check(serve.returncode != 0 and len(lines) == 1 and "ftsim-openai[server]" in lines[0],
          f"`ftsim serve` without the server extra says so in one line ({lines})")
    out = run([venv / "bin" / "ftsim", "examples", scratch / "examples"], env=env)
    check((scratch / "examples" / "fixtures" / "answers" / "sft-cost-play.toml").is_file(),
          f"`ftsim examples` writes the README's fixtures/ files from the installed wheel ({out.strip()})")


def main() -> int:
    scratch = Path(tempfile.mkdtemp(prefix="ftsim-wheel-"))
    base_python = getattr(sys, "_base_executable", sys.executable)
    try:
        wheel, sdist = build(sys.executable, scratch / "dist")
        check_wheel(wheel)
        check_sdist(sdist)
        py = fresh_venv(base_python, scratch / "venv")
        install(py, wheel)
        check_plugins(py)
        user = scratch / "user"
        user.mkdir()
        run_user_tests(scratch / "venv", user)
    except CheckFailed as exc:
        print(f"test-wheel: FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print("test-wheel: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
