"""Typed settings loaded from one TOML file.

The file is ``memmoat.toml`` by default; ``--config`` or ``MEMMOAT_CONFIG`` override the
path. Every setting is documented in ``docs/settings.md``. Secrets never live in the
file: it names the environment variables that hold them.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import time as dtime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from memmoat.errors import ConfigError

DEFAULT_PATH = "memmoat.toml"
ENV_PATH = "MEMMOAT_CONFIG"

TargetKind = Literal["auto", "dcgm", "vllm", "sglang", "tgi", "nim"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StorageSettings(_Strict):
    path: str = "data/memmoat.duckdb"
    spool_dir: str = "data/spool"
    spool_max_bytes: Annotated[int, Field(gt=0)] = 256 * 1024 * 1024
    raw_retention_days: Annotated[int, Field(ge=1)] = 14
    rollup_1m_retention_days: Annotated[int, Field(ge=1)] = 90


class CollectorSettings(_Strict):
    interval_seconds: Annotated[float, Field(ge=1, le=3600)] = 15.0
    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 5.0
    max_concurrent_scrapes: Annotated[int, Field(ge=1, le=256)] = 16
    max_page_bytes: Annotated[int, Field(gt=0)] = 32 * 1024 * 1024

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> CollectorSettings:
        if self.timeout_seconds >= self.interval_seconds:
            raise ValueError(
                f"timeout_seconds ({self.timeout_seconds}) must be shorter than "
                f"interval_seconds ({self.interval_seconds})"
            )
        return self


class Target(_Strict):
    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")]
    url: Annotated[str, Field(pattern=r"^https?://")]
    kind: TargetKind = "auto"
    cluster: str = "default"
    labels: dict[str, str] = Field(default_factory=dict)
    # Attribution fallback when dcgm has no pod labels: the node and GPUs this engine uses.
    hostname: str | None = None
    gpu_indices: list[int] = Field(default_factory=list)
    bearer_token_env: str | None = None

    def bearer_token(self) -> str | None:
        if not self.bearer_token_env:
            return None
        return os.environ.get(self.bearer_token_env)


class OnPremCost(_Strict):
    """Total cost of owning one GPU, turned into $ per GPU-hour (docs/set-prices.md).

    capex: purchase_usd / (depreciation_years x 8760 h); overhead: overhead_usd_per_year / 8760 h;
    power: the GPU's measured energy x pue x power_usd_per_kwh. Unset power_usd_per_kwh and pue
    take the [prices] values.
    """

    purchase_usd: Annotated[float, Field(ge=0)]
    depreciation_years: Annotated[float, Field(gt=0)] = 4.0
    power_usd_per_kwh: Annotated[float, Field(ge=0)] | None = None
    pue: Annotated[float, Field(ge=1.0, le=3.0)] | None = None
    overhead_usd_per_year: Annotated[float, Field(ge=0)] = 0.0


class GpuPrice(_Strict):
    """Price of one GPU model: a cloud rate or an on-prem TCO (one of the two).

    gpu_model is matched against dcgm-exporter's modelName after normalising case, the
    NVIDIA/Tesla brand and punctuation; a short name from queries/reference/gpu_specs.csv
    ("H100 SXM") or a subset of the words ("H100") also matches. The most specific entry wins.
    """

    gpu_model: Annotated[str, Field(min_length=1)]
    usd_per_gpu_hour: Annotated[float, Field(ge=0)] | None = None
    on_prem: OnPremCost | None = None

    @model_validator(mode="after")
    def _one_basis(self) -> GpuPrice:
        if (self.usd_per_gpu_hour is None) == (self.on_prem is None):
            raise ValueError("set exactly one of usd_per_gpu_hour or [on_prem]")
        return self


class PriceSettings(_Strict):
    # GPUs whose model has no [[prices.gpus]] entry cost this per GPU-hour (power included).
    default_usd_per_gpu_hour: Annotated[float, Field(ge=0)] = 2.0
    # Electricity: the default for on-prem entries, and the rate at which the energy share of a
    # cloud rate is shown (a cloud rate already includes power; it is not charged twice).
    power_usd_per_kwh: Annotated[float, Field(ge=0)] = 0.12
    pue: Annotated[float, Field(ge=1.0, le=3.0)] = 1.3
    # Input/output split when an engine reports no prefill/decode seconds: an output token is
    # taken to cost this many times an input token (OpenCost's fallback multiplier is 2.5).
    fallback_output_cost_ratio: Annotated[float, Field(gt=0)] = 2.5
    # A CSV with the columns of queries/reference/api_prices.csv replaces the shipped table.
    api_prices_csv: str | None = None
    gpus: list[GpuPrice] = Field(default_factory=list)


class DiagnosisSettings(_Strict):
    """Thresholds of the bottleneck diagnosis; the reasoning behind each is in docs/diagnosis.md."""

    # KV-capacity-bound: the KV cache is this full (peak in the window) while requests wait ...
    kv_usage_high: Annotated[float, Field(gt=0, le=1)] = 0.90
    waiting_requests_min: Annotated[float, Field(ge=0)] = 1.0
    # ... or the engine preempts (evicts running requests for lack of KV blocks) this often.
    preemptions_per_min_high: Annotated[float, Field(ge=0)] = 1.0
    # Under-utilized: the GPUs' graphics engine (or GPU_UTIL without DCP) is busy less than this
    # share of the time and nothing waits.
    busy_low: Annotated[float, Field(ge=0, le=1)] = 0.20
    # Memory-bandwidth-bound: DRAM active (= achieved / peak HBM bandwidth) at or above this.
    bandwidth_high: Annotated[float, Field(gt=0, le=1)] = 0.50
    # Compute-bound: tensor pipe active at or above this.
    compute_high: Annotated[float, Field(gt=0, le=1)] = 0.40


class EmailSettings(_Strict):
    """SMTP delivery of the daily report (docs/read-the-report.md). Credentials come from the environment."""

    smtp_host: str
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 587
    # STARTTLS before anything else is sent; a server that does not offer it is an error, never a
    # silent fall back to plain text. false: plain SMTP (a relay on localhost or a trusted network).
    starttls: bool = True
    # A PEM file of CA certificates to trust besides the system ones (a relay with a private CA).
    ca_file: str | None = None
    sender: str
    recipients: Annotated[list[str], Field(min_length=1)]
    username_env: str | None = None
    password_env: str | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0
    # Attach the CSV tables and summary.json (the HTML is the body either way).
    attach_tables: bool = True


class WebhookSettings(_Strict):
    """A Slack-compatible incoming webhook (JSON with ``text`` and ``blocks``)."""

    # The URL, or the environment variable that holds it (webhook URLs are secrets): one of the two.
    url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    url_env: str | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 10.0

    @model_validator(mode="after")
    def _one_url(self) -> WebhookSettings:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("set exactly one of url or url_env")
        return self

    def resolved_url(self) -> str | None:
        return self.url if self.url is not None else os.environ.get(self.url_env or "")


class ReportSettings(_Strict):
    time: str = "07:00"
    timezone: str = "UTC"
    output_dir: str = "data/reports"
    # On start and at each run the collector makes the missing reports of this many past days
    # (only days with data).
    catch_up_days: Annotated[int, Field(ge=0, le=90)] = 7
    # Failed deliveries are retried: attempts in all, waiting backoff_seconds, then twice as long ...
    delivery_attempts: Annotated[int, Field(ge=1, le=10)] = 4
    delivery_backoff_seconds: Annotated[float, Field(ge=0, le=600)] = 5.0
    email: EmailSettings | None = None
    webhook: WebhookSettings | None = None

    @field_validator("time")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", v):
            raise ValueError(f"time must be HH:MM (24 h), got {v!r}")
        return v

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {v!r}; use an IANA name such as 'Europe/Berlin'") from None
        return v

    def local_time(self) -> dtime:
        h, m = self.time.split(":")
        return dtime(int(h), int(m))


class DashboardSettings(_Strict):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8501
    refresh_seconds: Annotated[float, Field(ge=1)] = 15.0
    sql_row_limit: Annotated[int, Field(ge=1)] = 10_000
    sql_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0


class PrometheusSource(_Strict):
    """A Prometheus-compatible HTTP API (Prometheus, Thanos, Mimir, VictoriaMetrics) to pull from.

    Each distinct (job, instance) it has scraped becomes a memmoat target. See docs/real-cluster.md.
    """

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    url: Annotated[str, Field(pattern=r"^https?://")]
    # Extra PromQL label matchers for every query, e.g. 'namespace=~"llm-.*"'.
    match: str = ""
    # Gauges are read at this step; counters always as their raw samples.
    step_seconds: Annotated[float, Field(ge=1, le=3600)] = 15.0
    # Live pulls stop this far behind now: a sample appears in the API only after its scrape ends.
    lag_seconds: Annotated[float, Field(ge=0, le=3600)] = 30.0
    # After a collector outage, live pulls catch up at most this far back; older gaps: `memmoat backfill`.
    max_catchup_seconds: Annotated[float, Field(ge=1)] = 3600.0
    # Length of one backfill request (smaller chunks: less memory, more requests).
    chunk_seconds: Annotated[float, Field(ge=10, le=86400)] = 3600.0
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0
    cluster: str = "default"
    # Series label naming the cluster (a Thanos/Mimir external label); overrides `cluster` per series.
    cluster_label: str | None = None
    bearer_token_env: str | None = None

    def bearer_token(self) -> str | None:
        return os.environ.get(self.bearer_token_env) if self.bearer_token_env else None


class Settings(_Strict):
    storage: StorageSettings = Field(default_factory=StorageSettings)
    collector: CollectorSettings = Field(default_factory=CollectorSettings)
    targets: list[Target] = Field(default_factory=list)
    prices: PriceSettings = Field(default_factory=PriceSettings)
    diagnosis: DiagnosisSettings = Field(default_factory=DiagnosisSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    prometheus: list[PrometheusSource] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_target_names(self) -> Settings:
        seen: set[str] = set()
        for t in self.targets:
            if t.name in seen:
                raise ValueError(f"target name {t.name!r} is used twice")
            seen.add(t.name)
        return self

    # Paths in the file are relative to the file's folder, so a config works from any cwd.
    base_dir: Path = Field(default=Path("."), exclude=True)

    def resolve(self, p: str) -> Path:
        path = Path(p)
        return path if path.is_absolute() else (self.base_dir / path)

    @property
    def store_path(self) -> Path:
        return self.resolve(self.storage.path)

    @property
    def spool_path(self) -> Path:
        return self.resolve(self.storage.spool_dir)


def config_path(explicit: str | None = None) -> Path:
    return Path(explicit or os.environ.get(ENV_PATH) or DEFAULT_PATH)


def load(path: str | Path | None = None, *, must_exist: bool = False) -> Settings:
    """Load and validate settings. A missing default file gives the built-in defaults."""
    p = config_path(str(path) if path else None)
    if not p.exists():
        if must_exist or path or os.environ.get(ENV_PATH):
            raise ConfigError("file not found", path=str(p), hint="create it or pass --config PATH")
        return Settings()
    text = p.read_text(encoding="utf-8")
    return loads(text, path=str(p), base_dir=p.resolve().parent)


def loads(text: str, *, path: str = "<string>", base_dir: Path | None = None) -> Settings:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = int(m.group(1)) if m else None
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ConfigError(f"not valid TOML: {msg}", path=path, line=line) from None
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        key = _dotted(loc)
        if err["type"] == "extra_forbidden":
            msg = f"unknown key {loc[-1]!r}"
            hint = "check the spelling against docs/settings.md"
        else:
            msg = err["msg"].removeprefix("Value error, ")
            hint = None
        if len(exc.errors()) > 1:
            msg += f" (and {len(exc.errors()) - 1} more problem(s))"
        raise ConfigError(msg, path=path, key=key, line=_locate(text, loc), hint=hint) from None
    _check_secrets(settings, path, text)
    if base_dir is not None:
        settings = settings.model_copy(update={"base_dir": base_dir})
    return settings


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _locate(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line of a validation error: find the table header, then the key under it."""
    names = [str(p) for p in loc if isinstance(p, str)]
    ints = [p for p in loc if isinstance(p, int)]
    if not names:
        return None
    key, table = names[-1], ".".join(names[:-1])
    lines = text.splitlines()
    headers = [(i, ln.strip().strip("[]").strip()) for i, ln in enumerate(lines) if ln.strip().startswith("[")]
    start, stop = 0, (headers[0][0] if headers else len(lines))
    if table:
        hits = [i for i, name in headers if name == table]
        if not hits:
            # The key may itself be a table (e.g. an unknown [section]).
            hits = [i for i, name in headers if name == f"{table}.{key}" or name == key]
            return hits[0] + 1 if hits else None
        start = hits[min(ints[-1], len(hits) - 1)] if ints else hits[0]
        later = [i for i, _ in headers if i > start]
        stop = later[0] if later else len(lines)
    else:
        section = [i for i, name in headers if name == key]
        if section:
            return section[0] + 1
    for i in range(start, stop):
        if re.match(rf"^\s*{re.escape(key)}\s*=", lines[i]):
            return i + 1
    return start + 1 if table else None


def _check_secrets(settings: Settings, path: str, text: str) -> None:
    """Secrets come only from the environment: every named variable must be set."""
    wanted: list[tuple[tuple[Any, ...], str]] = []
    for i, t in enumerate(settings.targets):
        if t.bearer_token_env:
            wanted.append((("targets", i, "bearer_token_env"), t.bearer_token_env))
    email = settings.report.email
    if email:
        for field in ("username_env", "password_env"):
            var = getattr(email, field)
            if var:
                wanted.append((("report", "email", field), var))
    hook = settings.report.webhook
    if hook and hook.url_env:
        wanted.append((("report", "webhook", "url_env"), hook.url_env))
    for loc, var in wanted:
        if var not in os.environ:
            raise ConfigError(
                f"environment variable {var!r} is not set",
                path=path,
                key=_dotted(loc),
                line=_locate(text, loc),
                hint=f"export {var}=... before starting memmoat",
            )
