"""The ``memmoat`` command: composes collector, store, queries, dashboard and reports.

Every failure the user can act on is a MemmoatError; it is printed to stderr with a
title and the command exits non-zero. Tracebacks are for bugs only.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import date
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from memmoat import config as cfg
from memmoat import output
from memmoat.errors import ConfigError, MemmoatError

F = TypeVar("F", bound=Callable[..., Any])


def fail(exc: MemmoatError) -> None:
    click.secho(f"Error: {exc.title}", fg="red", bold=True, err=True)
    click.echo(f"  {exc}", err=True)
    sys.exit(1)


def handled(fn: F) -> F:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MemmoatError as exc:
            fail(exc)

    return wrapper  # type: ignore[return-value]


def _settings(ctx: click.Context) -> cfg.Settings:
    obj = ctx.ensure_object(dict)
    if "settings" not in obj:
        obj["settings"] = cfg.load(obj.get("config_path"))
    return obj["settings"]  # type: ignore[no-any-return]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar=cfg.ENV_PATH,
              help="Settings file (default memmoat.toml; env MEMMOAT_CONFIG).")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="memmoat")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, verbose: int) -> None:
    """memmoat: what a token really costs, and what holds your GPUs back."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.ensure_object(dict)["config_path"] = config_path


@main.command("check-config")
@click.option("--offline", is_flag=True, help="Do not contact the targets.")
@click.pass_context
@handled
def check_config(ctx: click.Context, offline: bool) -> None:
    """Validate the settings file and check that every target answers."""
    from memmoat.checks import probe_targets

    path = cfg.config_path(ctx.obj.get("config_path"))
    settings = cfg.load(path, must_exist=True)
    click.echo(f"{path}: valid ({len(settings.targets)} targets, store {settings.store_path})")
    if offline:
        return
    problems = probe_targets(settings)
    for name, ok, detail in problems:
        mark = click.style("ok  ", fg="green") if ok else click.style("FAIL", fg="red")
        click.echo(f"  {mark} {name}: {detail}")
    bad = [p for p in problems if not p[1]]
    if bad:
        raise ConfigError(
            f"{len(bad)} target(s) unreachable: {', '.join(n for n, _, _ in bad)}",
            path=str(path),
            hint="fix the URL or start the exporter; `--offline` skips this check",
        )


@main.command()
@click.option("--once", is_flag=True, help="Scrape every target once, write, and exit.")
@click.pass_context
@handled
def collect(ctx: click.Context, once: bool) -> None:
    """Scrape the targets into the store (runs until stopped, unless --once)."""
    from memmoat.service import collect_once, run_collector

    settings = _settings(ctx)
    if not settings.targets:
        raise ConfigError("no targets configured", hint="add [[targets]] to the settings file (docs/add-a-target.md)")
    if once:
        report = collect_once(settings)
        click.echo(
            f"scraped {report.scraped} target(s), {report.failed} failed, "
            f"{report.samples_written} samples written"
        )
        for err in report.errors:
            click.echo(f"  {err}", err=True)
        if report.store_error:
            click.echo(f"  store: {report.store_error} ({report.spooled} round(s) spooled)", err=True)
        if report.failed and not report.scraped:
            sys.exit(2)
        return
    run_collector(settings)


@main.command()
@click.pass_context
@handled
def targets(ctx: click.Context) -> None:
    """Show each target's state: up or down, last scrape, last error."""
    from queries.runner import run_named

    settings = _settings(ctx)
    res = run_named(settings.store_path, "target_health")
    click.echo(output.table(res.columns, res.rows))


@main.command()
@click.argument("name", required=False)
@click.option("--sql", help="Free read-only SQL instead of a named query.")
@click.option("--param", "-p", "params", multiple=True, metavar="K=V", help="Parameter of the named query.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--limit", type=int, default=10_000, show_default=True, help="Row limit for --sql.")
@click.pass_context
@handled
def query(ctx: click.Context, name: str | None, sql: str | None, params: tuple[str, ...], fmt: str, limit: int) -> None:
    """Run a named query (or --sql). Without arguments, list the named queries."""
    from memmoat.errors import QueryParameterError
    from queries import loader
    from queries.runner import run_named, run_sql

    if name and sql:
        raise QueryParameterError("give a query NAME or --sql, not both")
    if not name and not sql:
        for q in loader.catalog().values():
            click.secho(q.name, bold=True)
            click.echo(f"  {q.description}")
            for p in q.params:
                default = f" = {p.default}" if p.default is not None else " (required)"
                click.echo(f"    --param {p.name}=<{p.type}>{default}  {p.help}")
        return
    given: dict[str, str] = {}
    for item in params:
        if "=" not in item:
            raise QueryParameterError(f"--param {item!r} is not K=V")
        k, v = item.split("=", 1)
        given[k.strip()] = v
    settings = _settings(ctx)
    if sql:
        if given:
            raise QueryParameterError("--param applies to named queries only")
        res = run_sql(settings.store_path, sql, limit=limit)
    else:
        assert name is not None
        res = run_named(settings.store_path, name, given)
    if fmt == "csv":
        click.echo(output.to_csv(res.columns, res.rows), nl=False)
    elif fmt == "json":
        click.echo(output.to_json(res.columns, res.rows))
    else:
        click.echo(output.table(res.columns, res.rows))
        if res.truncated:
            click.echo(f"(first {limit} rows)", err=True)


@main.command()
@click.option("--port", type=int, help="Port (default dashboard.port).")
@click.pass_context
@handled
def dashboard(ctx: click.Context, port: int | None) -> None:
    """Serve the Streamlit dashboard."""
    from memmoat.service import run_dashboard

    settings = _settings(ctx)
    sys.exit(run_dashboard(settings, ctx.obj.get("config_path"), port=port))


@main.command()
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="Day to report (default: yesterday, in report.timezone).")
@click.option("--out", type=click.Path(file_okay=False), help="Output folder (default report.output_dir).")
@click.pass_context
@handled
def report(ctx: click.Context, day: Any, out: str | None) -> None:
    """Write the daily report for one day."""
    from reports.daily import default_day, write_report

    settings = _settings(ctx)
    d: date = day.date() if day else default_day(settings)
    folder = write_report(settings, d, Path(out) if out else None)
    click.echo(f"report for {d} written to {folder}")


@main.command()
@click.option("--port", type=int, default=8501, show_default=True, help="Dashboard port.")
@click.option("--data", "data_dir", type=click.Path(file_okay=False), default="data/demo", show_default=True,
              help="Folder for the demo's settings and DuckDB file.")
@click.option("--interval", type=float, default=5.0, show_default=True, help="Scrape interval in seconds.")
@click.option("--history-hours", type=float, default=3.0, show_default=True,
              help="Hours of simulated history to load before going live.")
@click.option("--no-browser-hint", is_flag=True, hidden=True)
@handled
def demo(port: int, data_dir: str, interval: float, history_hours: float, no_browser_hint: bool) -> None:
    """Simulated GPU fleet + collector + dashboard on localhost. Ctrl-C stops all."""
    from memmoat.demo import run_demo

    sys.exit(run_demo(Path(data_dir), port=port, interval=interval, history_hours=history_hours))


if __name__ == "__main__":  # pragma: no cover
    main()
