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


def test_simulate_then_evaluate_a_tiny_fleet(tmp_path):
    from nubo.bleed.evaluate import evaluate
    from nubo.bleed.simulate import simulate_fleet

    simulate_fleet(tmp_path, aircraft=3, flights=4, seed=9, hours=(0.5, 0.5), rates_hz=(1,))
    report = evaluate(tmp_path)
    assert report["flights"] == 12 and report["failed_files"] == 0
    result = runner.invoke(_app(), ["model", "evaluate", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "false_alerts_per_1000" in result.output
    assert "coherence violations 0" in result.output


def test_analyze_says_no_findings_instead_of_an_empty_table(write):
    result = runner.invoke(_app(), ["analyze", str(write(flight()))], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "no findings" in result.output
    assert "severity" not in result.output
