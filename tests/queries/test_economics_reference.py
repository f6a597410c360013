"""Reference data: GPU model matching, price selection, the on-prem breakdown, API price files."""

from __future__ import annotations

from pathlib import Path

import pytest

from memmoat import config
from memmoat.errors import ConfigError
from queries import reference


@pytest.mark.parametrize(
    ("model_name", "spec", "how"),
    [
        # the modelName strings of real dcgm-exporter pages (as dcgm-exporter shows them)
        ("NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3", "exact"),
        ("NVIDIA A100 80GB PCIe", "NVIDIA A100 80GB PCIe", "exact"),
        ("NVIDIA A100-SXM4-80GB", "NVIDIA A100-SXM4-80GB", "exact"),
        ("NVIDIA A30", "NVIDIA A30", "exact"),
        ("Tesla T4", "Tesla T4", "exact"),
        ("Tesla V100-SXM2-32GB", "Tesla V100-SXM2-32GB", "exact"),
        ("NVIDIA L4", "NVIDIA L4", "exact"),
        ("NVIDIA A10G", "NVIDIA A10G", "exact"),
        # other spellings: case, punctuation, word order, short names, aliases
        ("nvidia a100-pcie-40gb", "NVIDIA A100-PCIE-40GB", "exact"),
        ("NVIDIA A100 40GB PCIe", "NVIDIA A100-PCIE-40GB", "exact"),
        ("H100 SXM", "NVIDIA H100 80GB HBM3", "exact"),
        ("NVIDIA H100 SXM5 80GB", "NVIDIA H100 80GB HBM3", "exact"),
        ("NVIDIA GB200", "NVIDIA GB200 (per GPU)", "exact"),
        # one row per family: H200 NVL falls back to the H200 row, flagged as a family match
        ("NVIDIA H200 NVL", "NVIDIA H200", "family"),
        # a different part with a similar name does not match (L40 is not L40S, A10 is not A10G)
        ("NVIDIA L40", None, "none"),
        ("NVIDIA RTX 2000 Ada Generation", None, "none"),
        ("NVIDIA TITAN V", None, "none"),
        ("", None, "none"),
    ],
)
def test_match_spec(model_name: str, spec: str | None, how: str) -> None:
    got, kind = reference.match_spec(model_name)
    assert (got.model if got else None, kind) == (spec, how)


def test_a10_and_a10g_stay_apart() -> None:
    assert reference.match_spec("NVIDIA A10")[0].model == "NVIDIA A10"  # type: ignore[union-attr]
    assert reference.match_spec("NVIDIA A10G")[0].model == "NVIDIA A10G"  # type: ignore[union-attr]


def test_normalise() -> None:
    assert reference.normalise("NVIDIA A100-SXM4-80GB") == "a100 sxm4 80gb"
    assert reference.normalise("Tesla V100-SXM2-32GB") == "v100 sxm2 32gb"
    assert reference.normalise("NVIDIA GH200 (96GB HBM3)") == "gh200 96gb hbm3"


PRICES = """
[prices]
default_usd_per_gpu_hour = 1.5
power_usd_per_kwh = 0.2
pue = 1.4

[[prices.gpus]]
gpu_model = "H100"
usd_per_gpu_hour = 2.0

[[prices.gpus]]
gpu_model = "H100 SXM"
usd_per_gpu_hour = 2.5

[[prices.gpus]]
gpu_model = "nvidia h100 nvl"
usd_per_gpu_hour = 3.0

[[prices.gpus]]
gpu_model = "A100"
[prices.gpus.on_prem]
purchase_usd = 35040.0
depreciation_years = 5.0
overhead_usd_per_year = 876.0
"""


def test_most_specific_price_wins() -> None:
    s = config.loads(PRICES)
    gpus = s.prices.gpus
    # same normalised name beats a spec match beats a word subset
    assert reference.price_for("NVIDIA H100 NVL", gpus).usd_per_gpu_hour == 3.0  # type: ignore[union-attr]
    assert reference.price_for("NVIDIA H100 80GB HBM3", gpus).usd_per_gpu_hour == 2.5  # type: ignore[union-attr]
    assert reference.price_for("NVIDIA H100 PCIe", gpus).usd_per_gpu_hour == 2.0  # type: ignore[union-attr]
    assert reference.price_for("NVIDIA L4", gpus) is None
    assert reference.price_for("", gpus) is None


def test_on_prem_breakdown_inherits_power_price() -> None:
    s = config.loads(PRICES)
    b = reference.breakdown(reference.price_for("NVIDIA A100-SXM4-80GB", s.prices.gpus), s)
    # capex 35,040 / (5 x 8,760) = $0.80/h; overhead 876 / 8,760 = $0.10/h; fixed $0.90/h.
    assert b.basis == "on_prem"
    assert b.capex_usd_per_hour == pytest.approx(0.80)
    assert b.overhead_usd_per_hour == pytest.approx(0.10)
    assert b.fixed_usd_per_hour == pytest.approx(0.90)
    # power price and PUE not set on the entry: the [prices] values
    assert (b.power_usd_per_kwh, b.pue, b.energy_billed) == (0.2, 1.4, True)
    default = reference.breakdown(None, s)
    assert (default.basis, default.fixed_usd_per_hour, default.energy_billed) == ("default rate", 1.5, False)


def test_price_config_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"prices.pue.*less than or equal to 3"):
        config.loads("[prices]\npue = 4\n")
    with pytest.raises(ConfigError, match="fallback_output_cost_ratio"):
        config.loads("[prices]\nfallback_output_cost_ratio = 0\n")
    with pytest.raises(ConfigError, match=r"unknown key 'busy_lo'"):
        config.loads("[diagnosis]\nbusy_lo = 0.1\n")
    s = config.loads("[diagnosis]\nkv_usage_high = 0.8\n")
    assert s.diagnosis.kv_usage_high == 0.8 and s.diagnosis.bandwidth_high == 0.5


def test_shipped_tables_keep_sources() -> None:
    specs = reference.gpu_specs_table().to_pylist()
    assert all(r["source"] or r["source_quality"] == "none" for r in specs)
    h100 = next(r for r in specs if r["model"] == "NVIDIA H100 80GB HBM3")
    assert (h100["peak_memory_bandwidth_gbps"], h100["dense_bf16_tflops"], h100["tdp_watts"]) == (3350, 989, 700)
    assert str(h100["source_date"]) == "2026-08-22"
    api = reference.api_prices_table(config.Settings()).to_pylist()
    assert all(r["source"] for r in api)


def test_api_price_file_errors_name_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "api.csv"
    bad.write_text("provider,model,input_usd_per_1m,cached_input_usd_per_1m,output_usd_per_1m\nX,m,1.0,,lots\n")
    s = config.loads('[prices]\napi_prices_csv = "api.csv"\n', base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"api.csv:2: cannot read the API price row"):
        reference.api_prices_table(s)
    bad.write_text("provider,model,input_usd_per_1m\nX,m,1.0\n")
    with pytest.raises(ConfigError, match="lacks column"):
        reference.api_prices_table(s)
    missing = config.loads('[prices]\napi_prices_csv = "nope.csv"\n', base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"cannot read prices\.api_prices_csv"):
        reference.api_prices_table(missing)
