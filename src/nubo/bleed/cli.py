"""Command-line entry points, mounted by the main CLI as `analyze`, `simulate`, `model`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nubo.bleed.errors import FlightDataError

console = Console()
model_app = typer.Typer(help="Train and evaluate the bleed health model.", no_args_is_help=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def analyze_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Flight data file")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
) -> None:
    """Analyse one flight file and print its bleed-health result."""
    from nubo.bleed.pipeline import analyze

    try:
        result = analyze(file)
    except FlightDataError as exc:
        console.print_json(json.dumps({"error": exc.to_dict()}))
        raise typer.Exit(code=2) from exc
    data = result.to_dict()
    if as_json:
        typer.echo(json.dumps(data, indent=2, allow_nan=False))
        return
    title = f"{file.name}: {data['bleed_status']} ({data['integrity_score']:.0f}/100)"
    if data["findings"]:
        table = Table(title=title)
        for col in ("engine", "code", "severity", "message"):
            table.add_column(col)
        for f in data["findings"]:
            table.add_row(str(f["engine"]), f["code"], f["severity"], f["message"])
        console.print(table)
    else:
        console.print(f"{title}\nno findings")
    console.print(
        "phases: "
        + ", ".join(f"{p['phase']} {p['start_s']:.0f}–{p['end_s']:.0f}s" for p in data["phases"])
    )
    console.print(f"engine scores: {data['engine_scores']}  model: {data['model_version']}")
    for w in data["warnings"]:
        console.print(f"[yellow]warning:[/] {w}")


def simulate_command(
    aircraft: Annotated[int, typer.Option(help="Number of aircraft")] = 6,
    flights: Annotated[int, typer.Option(help="Flights per aircraft")] = 40,
    out: Annotated[Path, typer.Option(help="Output directory")] = Path("fleet"),
    seed: Annotated[int, typer.Option(help="Random seed")] = 0,
    healthy_share: Annotated[float, typer.Option(help="Share of aircraft never faulty")] = 1 / 3,
    rates: Annotated[str, typer.Option(help="Sample rates to draw from, Hz")] = "1,2,4,8",
    hours: Annotated[str, typer.Option(help="Flight duration range, hours")] = "1,3",
    noise: Annotated[float, typer.Option(help="Sensor noise, times the default")] = 1.0,
    press_offset: Annotated[
        float, typer.Option(help="Extra per-engine pressure offset, uniform within ± psi")
    ] = 0.0,
    temp_offset: Annotated[
        float, typer.Option(help="Extra per-engine temperature offset, uniform within ± °C")
    ] = 0.0,
    slow: Annotated[float, typer.Option(help="Faults develop this many times more slowly")] = 1.0,
) -> None:
    """Write a simulated fleet (mixed formats, ramping faults) and its labels.csv."""
    from nubo.bleed.simulate import FleetStyle, simulate_fleet

    lo, hi = (float(h) for h in hours.split(","))
    style = FleetStyle(
        press_span=press_offset,
        temp_span=temp_offset,
        noise=noise,
        healthy_share=healthy_share,
        ramp_scale=slow,
    )
    with _progress() as bar:
        task = bar.add_task("simulating flights", total=aircraft * flights)
        labels = simulate_fleet(
            out,
            aircraft=aircraft,
            flights=flights,
            seed=seed,
            rates_hz=tuple(float(r) for r in rates.split(",")),
            hours=(lo, hi),
            style=style,
            progress=lambda: bar.advance(task),
        )
    console.print(f"wrote {aircraft * flights} flights and {labels}")


@model_app.command("train")
def train_command(
    data_dir: Annotated[Path, typer.Argument(exists=True, file_okay=False)],
    out: Annotated[Path | None, typer.Option(help="Where to write the artefact JSON")] = None,
) -> None:
    """Fit the baseline on the healthy flights of DIR and write the artefact."""
    from nubo.bleed.fleetdir import list_flights
    from nubo.bleed.training import BASELINE_FLIGHTS, fit_artefact

    healthy = sum(f.healthy for f in list_flights(data_dir))
    with _progress() as bar:
        task = bar.add_task("training", total=healthy + min(healthy, BASELINE_FLIGHTS))
        art = fit_artefact(data_dir, progress=lambda: bar.advance(task))
    target = out or data_dir / "bleed-model.json"
    art.save(target)
    console.print(f"model {art.model_version} written to {target}")


@model_app.command("evaluate")
def evaluate_command(
    data_dir: Annotated[Path, typer.Argument(exists=True, file_okay=False)],
    model: Annotated[Path | None, typer.Option(help="Artefact JSON (default: shipped)")] = None,
) -> None:
    """Run pipeline + trend over a labelled fleet and report detection metrics."""
    from nubo.bleed.evaluate import evaluate
    from nubo.bleed.fleetdir import list_flights
    from nubo.bleed.model import Artefact, load_artefact

    art = Artefact.from_dict(json.loads(model.read_text())) if model else load_artefact()
    with _progress() as bar:
        task = bar.add_task("evaluating", total=len(list_flights(data_dir)))
        report = evaluate(data_dir, art, progress=lambda: bar.advance(task))
    table = Table(title=f"model {report['model_version']}")
    for col in ("fault type", "aircraft", "detection", "median lead (flights)", "first by trend"):
        table.add_column(col)
    for kind, r in report["fault_types"].items():
        table.add_row(
            kind,
            str(r["aircraft"]),
            f"{r['detection_rate']:.0%}",
            str(r["median_lead_flights"]),
            str(r["first_detected_by_trend_alone"]),
        )
    console.print(table)
    console.print(
        f"healthy flights {report['healthy_flights']}: "
        f"false alerts {report['false_alerts_per_1000']} / 1,000, "
        f"false watches {report['false_watches_per_1000']} / 1,000; "
        f"coherence violations {report['coherence_violations']}; "
        f"incomplete flights {report['incomplete_flights']}"
    )
    console.print(json.dumps({k: v for k, v in report.items() if k != "fault_types"}, indent=1))


bleed_app = typer.Typer(help="Bleed-health analysis tools.", no_args_is_help=True)
bleed_app.command("analyze")(analyze_command)
bleed_app.command("simulate")(simulate_command)
bleed_app.add_typer(model_app, name="model")
