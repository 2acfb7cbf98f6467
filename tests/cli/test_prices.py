"""`ftsim prices`: the catalog as a table or JSON."""

from __future__ import annotations

import json
from pathlib import Path

from ftsim.api.cli import main
from ftsim.pricing.catalog.catalog import bundled_catalogs

ROOT = Path(__file__).parents[2]


def test_json_round_trips_the_bundled_catalog(capsys) -> None:
    assert main(["prices", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    raw = json.loads((ROOT / "pricing" / "catalog" / bundled_catalogs()[-1]).read_text())
    assert [m["snapshot"] for m in data["models"]] == [m["snapshot"] for m in raw["models"]]
    mini = next(m for m in data["models"] if m["snapshot"] == "gpt-4.1-mini-2025-04-14")
    assert mini["training"]["price"] == "5.00" and mini["tuned"]["standard"]["input"] == "0.80"
    assert isinstance(mini["tuned"]["batch"]["cached_input"], str)  # money is never a JSON float


def test_table_lists_models_and_sources(capsys) -> None:
    assert main(["prices"]) == 0
    out = capsys.readouterr().out
    assert "gpt-4o-mini-2024-07-18" in out and "100.00/h" in out and "2.225" in out and "S1" in out


def test_user_catalog_and_bad_catalog(capsys, tmp_path: Path) -> None:
    raw = json.loads((ROOT / "pricing" / "catalog" / bundled_catalogs()[-1]).read_text())
    raw["models"] = raw["models"][:1]
    good = tmp_path / "mine.json"
    good.write_text(json.dumps(raw))
    assert main(["prices", "--json", "--catalog", str(good)]) == 0
    assert len(json.loads(capsys.readouterr().out)["models"]) == 1
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert main(["prices", "--catalog", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ftsim: catalog") and err.count("\n") == 1


def test_azure_prices(capsys):
    from ftsim.api.cli import main

    assert main(["prices", "--provider", "azure"]) == 0
    out = capsys.readouterr().out
    assert "gpt-4.1-mini-2025-04-14" in out and "5.00 / 5.50 / 6.05 / 2.50" in out and "2027-10-14" in out
    assert "$1.70/h" in out and "2026-07-02" in out
