"""The promotion gate: may a challenger become champion? Pure (no I/O, no Dagster).

A challenger is promoted only when, on the held-out window, it beats EVERY baseline and the
current champion on `metric` by at least `min_improvement` (relative):

    higher is better:  challenger - other >= min_improvement * |other|  and  challenger > other
    lower is better:   other - challenger >= min_improvement * |other|  and  challenger < other

With no champion (the first model) it must beat the baselines only.

`alternatives` are the other servable candidates of the same run (the model chosen to serve
is the best of them by measurement, `select_serving` below): the chosen one must be at
least as good as each of them, without a margin, because choosing among a run's own
candidates is selection, not a challenge to an incumbent. A missing or NaN value
(the challenger's or any comparison's) fails that comparison: the gate never promotes on a
number it could not compare. `reasons` has one line per comparison saying whether it passed
and by how much; `table_markdown` is the same as a Markdown table for the UI and the report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Comparison:
    role: str  # "baseline" | "alternative" | "champion"
    name: str
    other: float | None
    challenger: float | None
    required: float | None  # the value the challenger had to reach
    passed: bool
    reason: str


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reasons: list[str]
    table_markdown: str
    comparisons: list[Comparison] = field(default_factory=list)


def _value(metrics: Mapping[str, float] | None, metric: str) -> float | None:
    if metrics is None or metric not in metrics or metrics[metric] is None:
        return None
    try:
        v = float(metrics[metric])
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def _compare(
    role: str,
    name: str,
    other: float | None,
    chal: float | None,
    metric: str,
    higher_is_better: bool,
    margin: float,
    strict: bool = True,
) -> Comparison:
    label = f"{role} {name}"
    if chal is None:
        return Comparison(
            role, name, other, chal, None, False, f"FAIL vs {label}: the challenger has no {metric} value"
        )
    if other is None:
        return Comparison(
            role, name, other, chal, None, False, f"FAIL vs {label}: {name} has no {metric} value to compare with"
        )
    slack = margin * abs(other)
    if higher_is_better:
        required = other + slack
        ok = (chal > other or not strict) and chal >= required
    else:
        required = other - slack
        ok = (chal < other or not strict) and chal <= required
    rel = f"{(chal - other) / abs(other):+.2%}" if other != 0 else "+0.00%" if chal == other else "from 0"
    sign = ">=" if higher_is_better else "<="
    if strict:
        need = f"needs {'higher' if higher_is_better else 'lower'} by at least {margin:.2%} ({sign} {_fmt(required)})"
    else:
        need = f"needs at least as {'high' if higher_is_better else 'low'} ({sign} {_fmt(required)})"
    reason = f"{'PASS' if ok else 'FAIL'} vs {label}: {metric} {_fmt(chal)} vs {_fmt(other)} ({rel}); {need}"
    return Comparison(role, name, other, chal, required, ok, reason)


def decide(
    challenger_metrics: Mapping[str, float],
    baseline_metrics: Mapping[str, Mapping[str, float]],
    champion_metrics: Mapping[str, float] | None,
    metric: str,
    higher_is_better: bool = True,
    min_improvement: float = 0.0,
    champion_name: str = "champion",
    alternatives: Mapping[str, Mapping[str, float]] | None = None,
) -> GateDecision:
    """Gate decision; see the module docstring. `min_improvement` is relative (0.01 = 1%)."""
    if min_improvement < 0 or math.isnan(min_improvement):
        raise ValueError(f"min_improvement must be >= 0, got {min_improvement}")
    chal = _value(challenger_metrics, metric)
    comps = [
        _compare("baseline", name, _value(m, metric), chal, metric, higher_is_better, min_improvement)
        for name, m in baseline_metrics.items()
    ]
    comps += [
        _compare("alternative", name, _value(m, metric), chal, metric, higher_is_better, 0.0, strict=False)
        for name, m in (alternatives or {}).items()
    ]
    if champion_metrics is not None:
        comps.append(
            _compare(
                "champion",
                champion_name,
                _value(champion_metrics, metric),
                chal,
                metric,
                higher_is_better,
                min_improvement,
            )
        )
    reasons = [c.reason for c in comps]
    if not comps:
        promote = False
        reasons.append("FAIL: no baseline to compare with; a model is never promoted unchecked")
    else:
        promote = all(c.passed for c in comps)
    failed = [f"{c.role} {c.name}" for c in comps if not c.passed]
    if champion_metrics is None and comps:
        reasons.append("no current champion: first model, compared with the baselines only")
    reasons.append(
        ("PROMOTE: beats " + ", ".join(f"{c.role} {c.name}" for c in comps))
        if promote
        else ("REFUSE: does not beat " + ", ".join(failed) if failed else "REFUSE")
    )
    return GateDecision(
        promote, reasons, _table(comps, metric, higher_is_better, min_improvement, chal, promote), comps
    )


def _table(comps: list[Comparison], metric: str, higher: bool, margin: float, chal: float | None, promote: bool) -> str:
    lines = [
        f"**Promotion gate** on `{metric}` ({'higher' if higher else 'lower'} is better, "
        f"margin {margin:.2%} relative): **{'PROMOTE' if promote else 'REFUSE'}**",
        "",
        "| compared with | role | its value | challenger | required | result |",
        "|---|---|---:|---:|---:|---|",
    ]
    for c in comps:
        lines.append(
            f"| {c.name} | {c.role} | {_fmt(c.other)} | {_fmt(chal)} | "
            f"{_fmt(c.required)} | {'pass' if c.passed else 'FAIL'} |"
        )
    return "\n".join(lines) + "\n"


def select_serving(
    metrics: dict[str, dict[str, float]], servable: list[str], metric: str, higher_is_better: bool
) -> str:
    """The servable candidate with the best `metric`; ties and NaNs go to the earlier (simpler) one.

    ValueError when no servable candidate has a value: there is nothing to serve.
    """
    best, best_value = None, None
    for name in servable:
        value = metrics.get(name, {}).get(metric)
        if value is None or value != value:
            continue
        better = best_value is None or (value > best_value if higher_is_better else value < best_value)
        if better:
            best, best_value = name, value
    if best is None:
        raise ValueError(f"no servable candidate among {servable} has a {metric} value")
    return best
