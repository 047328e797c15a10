import json

import typer
from typer.testing import CliRunner

from nubo.bleed.cli import analyze_command, model_app, simulate_command

from .conftest import flight

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("analyze")(analyze_command)
    app.command("simulate")(simulate_command)
    app.add_typer(model_app, name="model")
    return app


def test_analyze_prints_json_result(write):
    result = runner.invoke(_app(), ["analyze", str(write(flight())), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["bleed_status"] == "normal"


def test_analyze_reports_error_code_for_bad_file(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"")
    result = runner.invoke(_app(), ["analyze", str(bad)])
    assert result.exit_code == 2
    assert "empty-file" in result.output
