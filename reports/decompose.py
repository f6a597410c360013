"""Why did the cost of a token move? A log-ratio (LMDI) decomposition.

The cost of 1M tokens of one kind (input or output) is a product of factors::

    $/1M X = 1e6 x ($/GPU-h) x share_X / (utilization x X per busy GPU-h)

      $/GPU-h          = price + energy     all cost / GPU-hours; price = everything but power,
                                            energy = measured energy x PUE x $/kWh (on-prem GPUs;
                                            a cloud rate includes power: its energy part is 0)
      utilization      = busy GPU-h / GPU-h (mean graphics-engine activity of the GPUs)
      share_X          = the part of the cost borne by X tokens (the token mix: input vs output)
      X per busy GPU-h = tokens of kind X / busy GPU-hours (throughput while busy)

Taking logs turns the product into a sum, so the change from day 0 to day 1 splits exactly:

    ln(C1/C0) = ln(p1/p0) + ln(s1/s0) - ln(u1/u0) - ln(r1/r0)

and each term is that factor's contribution in log points. In dollars (LMDI-I, Ang 2004), a
factor contributes L(C1, C0) x its log term, where L(a, b) = (a - b) / ln(a / b) is the
logarithmic mean; the dollar contributions add up to C1 - C0 with no residual. The additive
split of $/GPU-h into price and energy uses the same weights one level down: price contributes
(f1 - f0) / L(p1, p0) log points and energy (e1 - e0) / L(p1, p0), which add up to ln(p1/p0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def logmean(a: float, b: float) -> float:
    """The logarithmic mean (a - b) / ln(a / b); a when a == b. Both must be > 0."""
    if a <= 0 or b <= 0:
        raise ValueError("the logarithmic mean needs positive values")
    if math.isclose(a, b, rel_tol=1e-12):
        return a
    return (a - b) / math.log(a / b)


@dataclass(frozen=True)
class DayFactors:
    """The inputs of one window for one token kind."""

    gpu_hours: float
    busy_gpu_hours: float
    price_usd: float  # cost without energy
    energy_usd: float  # measured energy cost (0 for cloud rates)
    kind_cost_usd: float  # the part of the cost borne by this token kind
    tokens: float  # tokens of this kind

    @property
    def cost_usd(self) -> float:
        return self.price_usd + self.energy_usd

    @property
    def usd_per_gpu_hour(self) -> float:
        return self.cost_usd / self.gpu_hours

    @property
    def utilization(self) -> float:
        return self.busy_gpu_hours / self.gpu_hours

    @property
    def share(self) -> float:
        return self.kind_cost_usd / self.cost_usd

    @property
    def tokens_per_busy_gpu_hour(self) -> float:
        return self.tokens / self.busy_gpu_hours

    @property
    def usd_per_1m(self) -> float:
        return self.kind_cost_usd / self.tokens * 1e6

    def usable(self) -> str | None:
        """None when every factor is positive; else why the decomposition cannot be made."""
        if math.isnan(self.busy_gpu_hours):
            return "no GPU busy signal (DCGM_FI_PROF_GR_ENGINE_ACTIVE or DCGM_FI_DEV_GPU_UTIL)"
        checks = (
            (self.gpu_hours, "no GPU-hours"),
            (self.busy_gpu_hours, "the GPUs were never busy"),
            (self.cost_usd, "no cost"),
            (self.kind_cost_usd, "no cost borne by these tokens"),
            (self.tokens, "no tokens"),
        )
        for value, why in checks:
            if not (value > 0 and math.isfinite(value)):
                return why
        return None


@dataclass(frozen=True)
class Contribution:
    factor: str  # price | energy | utilization | token_mix | throughput
    label: str
    before: float
    after: float
    unit: str
    log_points: float  # this factor's share of ln(C1/C0)
    usd_per_1m: float  # this factor's share of C1 - C0, in $ per 1M tokens

    def as_dict(self) -> dict[str, object]:
        return {
            "factor": self.factor,
            "label": self.label,
            "before": self.before,
            "after": self.after,
            "unit": self.unit,
            "log_points": self.log_points,
            "usd_per_1m": self.usd_per_1m,
        }


@dataclass(frozen=True)
class Decomposition:
    before_usd_per_1m: float
    after_usd_per_1m: float
    contributions: tuple[Contribution, ...]

    @property
    def change_usd_per_1m(self) -> float:
        return self.after_usd_per_1m - self.before_usd_per_1m

    @property
    def change_ratio(self) -> float:
        return self.after_usd_per_1m / self.before_usd_per_1m - 1.0

    def main_driver(self) -> Contribution | None:
        """The factor that moved the cost most (by absolute contribution)."""
        return max(self.contributions, key=lambda c: abs(c.log_points), default=None)


def _clean(log_points: float) -> float:
    """Float noise (an unchanged price computed two ways differs by 1e-16) is no contribution."""
    return 0.0 if abs(log_points) < 1e-12 else log_points


def decompose(before: DayFactors, after: DayFactors) -> Decomposition:
    """Split the change of $/1M tokens between two windows into factor contributions.

    Raises ValueError (with the reason) when a factor is zero or missing on either side.
    """
    for which, d in (("previous", before), ("current", after)):
        why = d.usable()
        if why:
            raise ValueError(f"{which} window: {why}")
    c0, c1 = before.usd_per_1m, after.usd_per_1m
    weight = logmean(c1, c0)  # dollars per log point
    p0, p1 = before.usd_per_gpu_hour, after.usd_per_gpu_hour
    lp = logmean(p1, p0)
    f0, f1 = before.price_usd / before.gpu_hours, after.price_usd / after.gpu_hours
    e0, e1 = before.energy_usd / before.gpu_hours, after.energy_usd / after.gpu_hours
    terms = [
        ("price", "GPU price (without power), $/GPU-h", f0, f1, "$/GPU-h", (f1 - f0) / lp),
        ("energy", "energy, $/GPU-h", e0, e1, "$/GPU-h", (e1 - e0) / lp),
        (
            "utilization",
            "utilization (busy share of GPU-hours)",
            before.utilization,
            after.utilization,
            "ratio",
            -math.log(after.utilization / before.utilization),
        ),
        (
            "token_mix",
            "token mix (share of cost borne by these tokens)",
            before.share,
            after.share,
            "ratio",
            math.log(after.share / before.share),
        ),
        (
            "throughput",
            "throughput (tokens per busy GPU-hour)",
            before.tokens_per_busy_gpu_hour,
            after.tokens_per_busy_gpu_hour,
            "tokens/GPU-h",
            -math.log(after.tokens_per_busy_gpu_hour / before.tokens_per_busy_gpu_hour),
        ),
    ]
    contribs = tuple(
        Contribution(f, label, b, a, unit, _clean(lpts), weight * _clean(lpts)) for f, label, b, a, unit, lpts in terms
    )
    return Decomposition(c0, c1, contribs)
