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
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar=cfg.ENV_PATH,
    help="Settings file (default memmoat.toml; env MEMMOAT_CONFIG).",
)
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
    if not settings.targets and not settings.prometheus:
        raise ConfigError("no targets configured", hint="add [[targets]] to the settings file (docs/add-a-target.md)")
    if once:
        report = collect_once(settings)
        click.echo(
            f"scraped {report.scraped} target(s), {report.failed} failed, {report.samples_written} samples written"
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
@click.option("--from", "start", required=True, help="Start: ISO time (UTC unless offset given) or relative, e.g. -6h.")
@click.option("--to", "end", default="now", show_default=True, help="End: ISO time, relative, or now.")
@click.option("--source", "sources", multiple=True, help="A [[prometheus]] source by name (default: all).")
@click.option("--chunk", help="Length of one request, e.g. 30m (default: the source's chunk_seconds).")
@click.pass_context
@handled
def backfill(ctx: click.Context, start: str, end: str, sources: tuple[str, ...], chunk: str | None) -> None:
    """Pull history from the Prometheus API sources into the store (resumable: rerun to continue)."""
    from collector.backfill import Backfill, parse_duration, parse_when
    from store.migrate import utcnow

    settings = _settings(ctx)
    known = {s.name: s for s in settings.prometheus}
    if not known:
        raise ConfigError("no [[prometheus]] sources configured", hint="see docs/real-cluster.md")
    unknown = [n for n in sources if n not in known]
    if unknown:
        raise ConfigError(f"no [[prometheus]] source named {unknown[0]!r}", hint=f"known: {', '.join(known)}")
    now = utcnow()
    t0, t1 = parse_when(start, now), parse_when(end, now)
    if t1 <= t0:
        raise ConfigError(f"--to ({t1:%Y-%m-%d %H:%M:%S}) is not after --from ({t0:%Y-%m-%d %H:%M:%S})")
    step = parse_duration(chunk) if chunk else None
    for src in [known[n] for n in sources] or list(known.values()):
        job = Backfill(settings, src, t0, t1, step)
        samples, targets = 0, set[str]()
        try:
            for note in job.notes:
                click.echo(f"{src.name}: {note}")
            with click.progressbar(job.chunks, label=f"{src.name}", show_pos=True, show_eta=True) as bar:
                for span in bar:
                    res = job.run_chunk(span)
                    samples += res.samples
                    targets |= res.targets
        finally:
            job.close()
        click.echo(f"{src.name}: {samples} samples from {len(targets)} target(s) in {len(job.chunks)} chunk(s)")


@main.command()
@click.pass_context
@handled
def targets(ctx: click.Context) -> None:
    """Show each target's state: up or down, last scrape, last error."""
    from queries.runner import run_named

    settings = _settings(ctx)
    res = run_named(settings.store_path, "target_health", settings=settings)
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
        res = run_sql(settings.store_path, sql, limit=limit, settings=settings)
    else:
        assert name is not None
        res = run_named(settings.store_path, name, given, settings=settings)
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
@click.option(
    "--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="Day to report (default: yesterday, in report.timezone)."
)
@click.option("--out", type=click.Path(file_okay=False), help="Output folder (default report.output_dir).")
@click.option("--send", is_flag=True, help="Also deliver it by [report.email] and [report.webhook].")
@click.option(
    "--catch-up",
    "catch_up",
    is_flag=True,
    help="Instead: make the missing reports of the last report.catch_up_days days that have data (and send them).",
)
@click.pass_context
@handled
def report(ctx: click.Context, day: Any, out: str | None, send: bool, catch_up: bool) -> None:
    """Write the daily report for one day: HTML, CSV tables and summary.json in a dated folder."""
    from memmoat.errors import DeliveryError
    from reports import daily

    settings = _settings(ctx)
    if catch_up:
        if day or out:
            raise ConfigError("--catch-up works on report.output_dir and recent days; drop --date and --out")
        made = daily.catch_up(settings)
        click.echo(f"made {len(made)} report(s)" + "".join(f"\n  {p}" for p in made))
        return
    d: date = day.date() if day else daily.default_day(settings)
    result = daily.make_report(settings, d, Path(out) if out else None, send=send)
    h = result.report.headline
    click.echo(
        f"report for {d} written to {result.folder}: "
        f"{output._cell(h['usd_per_1m_input']['day'])} $/1M input, "
        f"{output._cell(h['usd_per_1m_output']['day'])} $/1M output tokens"
    )
    if not result.report.has_data:
        click.echo(f"  warning: no data was collected on {d}: the report is empty", err=True)
    for o in result.deliveries:
        click.echo(f"  {o.channel}: " + ("sent" if o.ok else f"FAILED after {o.attempts} attempt(s): {o.error}"))
    failed = [o for o in result.deliveries if not o.ok]
    if failed:
        raise DeliveryError(
            f"{', '.join(o.channel for o in failed)} delivery failed; the report itself is in {result.folder}",
            hint="check [report.email] / [report.webhook] and the network; rerun with --send",
        )
    if send and not result.deliveries:
        click.echo("  nothing sent: neither [report.email] nor [report.webhook] is configured", err=True)


@main.command()
@click.option("--port", type=int, default=8501, show_default=True, help="Dashboard port.")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False),
    default="data/demo",
    show_default=True,
    help="Folder for the demo's settings and DuckDB file.",
)
@click.option("--interval", type=float, default=5.0, show_default=True, help="Scrape interval in seconds.")
@click.option(
    "--history-hours",
    type=float,
    default=3.0,
    show_default=True,
    help="Hours of simulated history to load before going live.",
)
@click.option("--no-browser-hint", is_flag=True, hidden=True)
@handled
def demo(port: int, data_dir: str, interval: float, history_hours: float, no_browser_hint: bool) -> None:
    """Simulated GPU fleet + collector + dashboard on localhost. Ctrl-C stops all."""
    from memmoat.demo import run_demo

    sys.exit(run_demo(Path(data_dir), port=port, interval=interval, history_hours=history_hours))


if __name__ == "__main__":  # pragma: no cover
    main()
