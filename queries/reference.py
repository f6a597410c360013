"""Reference relations the economics queries join: GPU specs, prices, API prices, thresholds.

None of this is written into the store. Prices and thresholds come from the Settings in use;
GPU specs and API prices from data files kept in the repository (``queries/reference/``, every
number with its source and date; ``[prices] api_prices_csv`` may replace the API table). The
runner registers them as relations on every read-only connection, so named queries and
``memmoat query --sql`` can join them by name:

    gpu_specs             the spec table, one row per GPU model
    gpu_models            each modelName string seen in the store -> spec and price
    gpu_prices            the configured prices, with the on-prem $/GPU-hour breakdown
    api_prices            hosted API list prices per 1M tokens, dated
    price_settings        one row: default rate, power price, PUE, fallback output/input ratio
    diagnosis_thresholds  one row: the [diagnosis] thresholds

dcgm-exporter's ``modelName`` strings vary (``NVIDIA H100 80GB HBM3`` is the SXM part,
``NVIDIA A100-SXM4-80GB`` vs ``NVIDIA A100 80GB PCIe``, ``Tesla T4``): :func:`normalise`
drops case, the NVIDIA/Tesla brand and punctuation, and :func:`match_spec` compares word sets.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path

import pyarrow as pa

from memmoat.config import GpuPrice, Settings
from memmoat.errors import ConfigError

HOURS_PER_YEAR = 8760.0  # 365 days: depreciation and yearly overhead per GPU-hour
_BRAND = {"nvidia", "tesla"}


def normalise(name: str) -> str:
    """'NVIDIA A100-SXM4-80GB' -> 'a100 sxm4 80gb': lower case, no brand, words split on punctuation."""
    words = re.sub(r"[^a-z0-9.]+", " ", name.lower()).split()
    return " ".join(w for w in words if w not in _BRAND)


def _words(name: str) -> frozenset[str]:
    return frozenset(normalise(name).split())


@dataclass(frozen=True)
class GpuSpec:
    model: str
    short_name: str
    aliases: tuple[str, ...]
    memory_gib: float | None
    memory_type: str
    peak_memory_bandwidth_gbps: float | None
    dense_bf16_tflops: float | None
    tdp_watts: float | None
    mig_slices: int | None
    source_quality: str
    source: str
    source_date: date | None
    copied: date | None
    notes: str

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(normalise(n) for n in (self.model, self.short_name, *self.aliases) if n)

    @property
    def family(self) -> str | None:
        """The model number word ('h100', 'a10g', 'l40s'): the first word with a digit."""
        return next((w for w in normalise(self.short_name or self.model).split() if re.search(r"\d", w)), None)


def _csv_rows(text: str) -> list[tuple[int, dict[str, str]]]:
    """Rows of a CSV whose comment lines start with '#', each with its line number in the file."""
    numbered = [(i, ln) for i, ln in enumerate(text.splitlines(), 1) if ln.strip() and not ln.startswith("#")]
    if not numbered:
        return []
    reader = csv.DictReader([ln for _, ln in numbered])
    out = []
    for (lineno, _), row in zip(numbered[1:], reader, strict=False):
        out.append((lineno, {k: (v or "").strip() for k, v in row.items() if k is not None}))
    return out


def _num(text: str) -> float | None:
    return float(text) if text else None


def _date(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


def _read_packaged(name: str) -> str:
    return resources.files("queries").joinpath("reference", name).read_text(encoding="utf-8")


@cache
def gpu_specs() -> tuple[GpuSpec, ...]:
    out = []
    for _, r in _csv_rows(_read_packaged("gpu_specs.csv")):
        out.append(
            GpuSpec(
                model=r["model"],
                short_name=r["short_name"],
                aliases=tuple(a.strip() for a in r["aliases"].split(";") if a.strip()),
                memory_gib=_num(r["memory_gib"]),
                memory_type=r["memory_type"],
                peak_memory_bandwidth_gbps=_num(r["peak_memory_bandwidth_gbps"]),
                dense_bf16_tflops=_num(r["dense_bf16_tflops"]),
                tdp_watts=_num(r["tdp_watts"]),
                mig_slices=int(r["mig_slices"]) if r["mig_slices"] else None,
                source_quality=r["source_quality"],
                source=r["source"],
                source_date=_date(r["source_date"]),
                copied=_date(r["copied"]),
                notes=r["notes"],
            )
        )
    return tuple(out)


def match_spec(name: str, specs: Sequence[GpuSpec] | None = None) -> tuple[GpuSpec | None, str]:
    """The spec row of a modelName string and how it matched: 'exact', 'family' or 'none'.

    exact: the normalised name, or its set of words, equals a row's model, short name or alias.
    family: the model number word (h100, a100, l4...) names one row, or one row shares more
    words with the name than any other (e.g. 'H100 SXM5 80GB' -> the 80GB HBM3 row).
    """
    specs = gpu_specs() if specs is None else specs
    norm = normalise(name)
    words = frozenset(norm.split())
    if not words:
        return None, "none"
    for s in specs:
        if norm in s.names:
            return s, "exact"
    for s in specs:
        if any(words == frozenset(n.split()) for n in s.names):
            return s, "exact"
    same_family = [s for s in specs if s.family and s.family in words]
    if len(same_family) == 1:
        return same_family[0], "family"
    if same_family:
        overlap = sorted(
            ((max(len(words & frozenset(n.split())) for n in s.names), i) for i, s in enumerate(same_family)),
            reverse=True,
        )
        if overlap[0][0] > overlap[1][0]:
            return same_family[overlap[0][1]], "family"
    return None, "none"


def price_for(gpu_model: str, prices: Sequence[GpuPrice]) -> GpuPrice | None:
    """The [[prices.gpus]] entry for a modelName string: the most specific match, first on ties.

    3: same normalised name; 2: both resolve to the same spec row ('H100 SXM' for
    'NVIDIA H100 80GB HBM3'); 1: the entry's words are a subset of the name's ('H100').
    """
    if not gpu_model:
        return None
    spec, how = match_spec(gpu_model)
    best: tuple[int, GpuPrice] | None = None
    for p in prices:
        if normalise(p.gpu_model) == normalise(gpu_model):
            score = 3
        elif spec is not None and how == "exact" and match_spec(p.gpu_model)[0] == spec:
            score = 2
        elif _words(p.gpu_model) <= _words(gpu_model):
            score = 1
        else:
            continue
        if best is None or score > best[0]:
            best = (score, p)
    return best[1] if best else None


@dataclass(frozen=True)
class PriceBreakdown:
    basis: str  # cloud | on_prem | default rate
    entry: str | None  # the gpu_model string of the matching [[prices.gpus]] entry
    cloud_usd_per_hour: float | None
    capex_usd_per_hour: float | None
    overhead_usd_per_hour: float | None
    fixed_usd_per_hour: float  # everything but measured power
    power_usd_per_kwh: float
    pue: float
    energy_billed: bool  # on-prem pays its measured energy on top; a cloud rate includes it


def breakdown(price: GpuPrice | None, settings: Settings) -> PriceBreakdown:
    ps = settings.prices
    if price is None:
        return PriceBreakdown("default rate", None, ps.default_usd_per_gpu_hour, None, None,
                              ps.default_usd_per_gpu_hour, ps.power_usd_per_kwh, ps.pue, False)  # fmt: skip
    if price.on_prem is None:
        rate = float(price.usd_per_gpu_hour or 0.0)
        return PriceBreakdown("cloud", price.gpu_model, rate, None, None, rate, ps.power_usd_per_kwh, ps.pue, False)
    op = price.on_prem
    capex = op.purchase_usd / (op.depreciation_years * HOURS_PER_YEAR)
    overhead = op.overhead_usd_per_year / HOURS_PER_YEAR
    kwh = ps.power_usd_per_kwh if op.power_usd_per_kwh is None else op.power_usd_per_kwh
    pue = ps.pue if op.pue is None else op.pue
    return PriceBreakdown("on_prem", price.gpu_model, None, capex, overhead, capex + overhead, kwh, pue, True)


# -- Arrow tables -------------------------------------------------------------------------


def _table(rows: Sequence[Mapping[str, object]], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=schema)


SPEC_SCHEMA = pa.schema([
    ("model", pa.string()), ("short_name", pa.string()), ("aliases", pa.string()),
    ("memory_gib", pa.float64()), ("memory_type", pa.string()),
    ("peak_memory_bandwidth_gbps", pa.float64()), ("dense_bf16_tflops", pa.float64()),
    ("tdp_watts", pa.float64()), ("mig_slices", pa.int32()), ("source_quality", pa.string()),
    ("source", pa.string()), ("source_date", pa.date32()), ("copied", pa.date32()), ("notes", pa.string()),
])  # fmt: skip


def gpu_specs_table() -> pa.Table:
    rows = []
    for s in gpu_specs():
        rows.append({f.name: getattr(s, f.name) for f in SPEC_SCHEMA} | {"aliases": "; ".join(s.aliases)})
    return _table(rows, SPEC_SCHEMA)


MODEL_SCHEMA = pa.schema([
    ("gpu_model", pa.string()), ("spec_model", pa.string()), ("spec_match", pa.string()),
    ("peak_memory_bandwidth_gbps", pa.float64()), ("dense_bf16_tflops", pa.float64()),
    ("tdp_watts", pa.float64()), ("memory_gib", pa.float64()), ("mig_slices", pa.int32()),
    ("price_basis", pa.string()), ("price_entry", pa.string()), ("cloud_usd_per_hour", pa.float64()),
    ("capex_usd_per_hour", pa.float64()), ("overhead_usd_per_hour", pa.float64()),
    ("fixed_usd_per_hour", pa.float64()), ("power_usd_per_kwh", pa.float64()), ("pue", pa.float64()),
    ("energy_billed", pa.bool_()),
])  # fmt: skip


def gpu_models_table(observed: Iterable[str], settings: Settings) -> pa.Table:
    """One row per modelName string seen in the store, plus '' for GPUs without one."""
    rows = []
    for name in sorted(set(observed) | {""}):
        spec, how = match_spec(name) if name else (None, "none")
        b = breakdown(price_for(name, settings.prices.gpus), settings)
        rows.append({
            "gpu_model": name, "spec_model": spec.model if spec else None, "spec_match": how,
            "peak_memory_bandwidth_gbps": spec.peak_memory_bandwidth_gbps if spec else None,
            "dense_bf16_tflops": spec.dense_bf16_tflops if spec else None,
            "tdp_watts": spec.tdp_watts if spec else None, "memory_gib": spec.memory_gib if spec else None,
            "mig_slices": spec.mig_slices if spec else None,
            "price_basis": b.basis, "price_entry": b.entry, "cloud_usd_per_hour": b.cloud_usd_per_hour,
            "capex_usd_per_hour": b.capex_usd_per_hour, "overhead_usd_per_hour": b.overhead_usd_per_hour,
            "fixed_usd_per_hour": b.fixed_usd_per_hour, "power_usd_per_kwh": b.power_usd_per_kwh,
            "pue": b.pue, "energy_billed": b.energy_billed,
        })  # fmt: skip
    return _table(rows, MODEL_SCHEMA)


PRICE_SCHEMA = pa.schema([
    ("gpu_model", pa.string()), ("price_basis", pa.string()), ("spec_model", pa.string()),
    ("cloud_usd_per_hour", pa.float64()), ("purchase_usd", pa.float64()),
    ("depreciation_years", pa.float64()), ("overhead_usd_per_year", pa.float64()),
    ("capex_usd_per_hour", pa.float64()), ("overhead_usd_per_hour", pa.float64()),
    ("fixed_usd_per_hour", pa.float64()), ("power_usd_per_kwh", pa.float64()), ("pue", pa.float64()),
    ("tdp_watts", pa.float64()), ("power_usd_per_hour_at_tdp", pa.float64()),
    ("usd_per_hour_at_tdp", pa.float64()), ("matches_seen", pa.string()),
])  # fmt: skip


def gpu_prices_table(settings: Settings, observed: Iterable[str] = ()) -> pa.Table:
    """The configured prices, one row per [[prices.gpus]] entry and one for the default rate.

    power_usd_per_hour_at_tdp is what an on-prem GPU's electricity costs at full power (TDP x
    PUE x $/kWh): an upper bound before any data; measured figures are in gpu_hour_cost.
    """
    seen = sorted(set(observed))
    rows = []
    entries: list[GpuPrice | None] = [*settings.prices.gpus, None]
    for p in entries:
        b = breakdown(p, settings)
        spec = match_spec(p.gpu_model)[0] if p else None
        tdp = spec.tdp_watts if spec else None
        power_at_tdp = tdp / 1000.0 * b.pue * b.power_usd_per_kwh if (tdp and b.energy_billed) else None
        matches = [m for m in seen if (price_for(m, settings.prices.gpus) is p)]
        op = p.on_prem if p else None
        rows.append({
            "gpu_model": p.gpu_model if p else "*", "price_basis": b.basis,
            "spec_model": spec.model if spec else None, "cloud_usd_per_hour": b.cloud_usd_per_hour,
            "purchase_usd": op.purchase_usd if op else None,
            "depreciation_years": op.depreciation_years if op else None,
            "overhead_usd_per_year": op.overhead_usd_per_year if op else None,
            "capex_usd_per_hour": b.capex_usd_per_hour, "overhead_usd_per_hour": b.overhead_usd_per_hour,
            "fixed_usd_per_hour": b.fixed_usd_per_hour, "power_usd_per_kwh": b.power_usd_per_kwh,
            "pue": b.pue, "tdp_watts": tdp, "power_usd_per_hour_at_tdp": power_at_tdp,
            "usd_per_hour_at_tdp": b.fixed_usd_per_hour + (power_at_tdp or 0.0) if p else b.fixed_usd_per_hour,
            "matches_seen": ", ".join(matches),
        })  # fmt: skip
    return _table(rows, PRICE_SCHEMA)


API_COLUMNS = ("provider", "model", "input_usd_per_1m", "cached_input_usd_per_1m", "output_usd_per_1m")
API_SCHEMA = pa.schema([
    ("ref", pa.string()), ("provider", pa.string()), ("model", pa.string()),
    ("input_usd_per_1m", pa.float64()), ("cached_input_usd_per_1m", pa.float64()),
    ("output_usd_per_1m", pa.float64()), ("as_of", pa.date32()), ("as_of_note", pa.string()),
    ("source", pa.string()), ("source_type", pa.string()), ("notes", pa.string()),
])  # fmt: skip


def api_prices_rows(text: str, path: str) -> list[dict[str, object]]:
    rows = _csv_rows(text)
    if not rows:
        raise ConfigError("the API price table is empty", path=path, hint="see queries/reference/api_prices.csv")
    missing = [c for c in API_COLUMNS if c not in rows[0][1]]
    if missing:
        raise ConfigError(f"API price table lacks column(s) {', '.join(missing)}", path=path,
                          hint=f"needed: {', '.join(API_COLUMNS)} (optional: as_of, source, notes)")  # fmt: skip
    out = []
    for lineno, r in rows:
        try:
            row: dict[str, object] = {f.name: r.get(f.name) or None for f in API_SCHEMA}
            for c in ("input_usd_per_1m", "cached_input_usd_per_1m", "output_usd_per_1m"):
                row[c] = _num(r.get(c, ""))
            row["as_of"] = _date(r.get("as_of", ""))
        except ValueError as exc:
            raise ConfigError(f"cannot read the API price row: {exc}", path=path, line=lineno) from None
        if not row["provider"] or not row["model"]:
            raise ConfigError("provider and model must not be empty", path=path, line=lineno)
        out.append(row)
    return out


def api_prices_table(settings: Settings) -> pa.Table:
    override = settings.prices.api_prices_csv
    if override:
        path = settings.resolve(override)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read prices.api_prices_csv: {exc.strerror}", path=str(path)) from None
        return _table(api_prices_rows(text, str(path)), API_SCHEMA)
    return _shipped_api_prices()


@cache
def _shipped_api_prices() -> pa.Table:
    return _table(api_prices_rows(_read_packaged("api_prices.csv"), "queries/reference/api_prices.csv"), API_SCHEMA)


def price_settings_table(settings: Settings) -> pa.Table:
    ps = settings.prices
    return pa.Table.from_pylist([{
        "default_usd_per_gpu_hour": ps.default_usd_per_gpu_hour, "power_usd_per_kwh": ps.power_usd_per_kwh,
        "pue": ps.pue, "fallback_output_cost_ratio": ps.fallback_output_cost_ratio,
    }])  # fmt: skip


def thresholds_table(settings: Settings) -> pa.Table:
    return pa.Table.from_pylist([settings.diagnosis.model_dump()])


def relations(settings: Settings, observed_models: Iterable[str]) -> dict[str, pa.Table]:
    """Every reference relation by the name queries use."""
    observed = list(observed_models)
    return {
        "gpu_specs": gpu_specs_table(),
        "gpu_models": gpu_models_table(observed, settings),
        "gpu_prices": gpu_prices_table(settings, observed),
        "api_prices": api_prices_table(settings),
        "price_settings": price_settings_table(settings),
        "diagnosis_thresholds": thresholds_table(settings),
    }
