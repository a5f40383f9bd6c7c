"""The plot each verdict rests on: per-seed values (paired lines) and per-seed effects
with the bootstrap CI of their median, "no effect" and the claim's threshold or band."""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .evaluate import ClaimResult  # noqa: E402
from .verdict import null_value, threshold  # noqa: E402

# PNG metadata carries matplotlib's version and nothing time-dependent once "Software"
# is dropped: same inputs, same bytes.
PNG_METADATA = {"Software": None}


def _bounds(result: ClaimResult) -> list[tuple[float, str]]:
    """Horizontal reference lines of the effect panel: (value, label)."""
    claim, scale = result.claim, result.evidence.scale
    if claim.kind == "equivalence":
        m = claim.margin
        low, high = (1 / (1 + m), 1 + m) if scale == "ratio" else (-m, m)
        return [(low, "equivalence band"), (high, "")]
    if claim.kind == "noninferiority":
        worse = "higher" if claim.direction == "lower" else "lower"
        return [(threshold(scale, worse, claim.margin), "non-inferiority bound")]
    if claim.kind == "interaction":
        return [(threshold("difference", claim.direction, claim.min_effect), "threshold")]
    return [(threshold(scale, claim.direction, claim.min_effect), "threshold")]


def claim_figure(result: ClaimResult) -> bytes:
    """PNG bytes of the claim's two-panel figure."""
    ev, claim, test = result.evidence, result.claim, result.test
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.0, 3.4), constrained_layout=True)
    x = np.arange(len(ev.values))
    names = list(ev.values)
    for i in range(len(ev.seeds)):
        left.plot(x, [ev.values[n][i] for n in names], color="0.7", lw=0.8, zorder=1)
    for j, name in enumerate(names):
        left.scatter(np.full(len(ev.seeds), j), ev.values[name], s=18, zorder=2, label=name)
    left.set_xticks(x, [n.replace(" @ ", "\n@ ") for n in names], fontsize=7)
    left.set_xlim(-0.5, len(names) - 0.5)
    positive = all(np.all(np.asarray(v)[np.isfinite(v)] > 0) for v in ev.values.values())
    spread = [np.nanmax(v) / np.nanmin(v) for v in ev.values.values() if positive and np.isfinite(v).any()]
    if positive and spread and max(spread) > 20:
        left.set_yscale("log")
    if claim.kind == "interaction":
        per_seed_effect = "log(treatment / control)" if claim.scale == "ratio" else "treatment - control"
        left.set_ylabel(f"{per_seed_effect} of {claim.metric}", fontsize=8)
    else:
        left.set_ylabel(claim.metric, fontsize=8)
    left.set_title(f"per {'round' if claim.kind == 'cost' else 'seed'}", fontsize=9)

    effect_kind = "difference" if claim.kind == "interaction" else ev.scale
    for k, (a, b) in enumerate(ev.pairs):
        ta, tb = ev.values[a], ev.values[b]
        with np.errstate(divide="ignore", invalid="ignore"):
            per_seed = ta - tb if effect_kind == "difference" else ta / tb
        right.scatter(np.full(len(per_seed), k) + np.linspace(-0.12, 0.12, len(per_seed)), per_seed, s=14,
                      color="C0", zorder=2)
    if np.isfinite(test.ci_low) and np.isfinite(test.ci_high):
        right.errorbar([len(ev.pairs) - 0.5 + 0.3], [test.effect],
                       yerr=[[test.effect - test.ci_low], [test.ci_high - test.effect]], fmt="s", color="C3",
                       capsize=4, label="median, 95% CI", zorder=3)
    right.axhline(null_value(effect_kind), color="0.3", lw=1, label="no effect")
    for value, label in _bounds(result):
        right.axhline(value, color="C1", lw=1, ls="--", label=label or None)
    ticks = [f"{a}\nvs {b}" if len(a) + len(b) < 40 else f"{a[:18]}…\nvs {b[:18]}…" for a, b in ev.pairs]
    right.set_xticks(range(len(ev.pairs)), ticks, fontsize=7)
    right.set_xlim(-0.5, len(ev.pairs) + 0.2)
    scale_name = {"ratio": "ratio treatment / control", "difference": "difference treatment - control"}
    right.set_ylabel(scale_name[effect_kind] if claim.kind != "interaction" else
                     "effect difference (log ratio or count)", fontsize=8)
    p = "n/a" if not math.isfinite(result.p_holm) else f"{result.p_holm:.2g}"
    overruled = "" if result.verdict == result.own_verdict else f"; own test {result.own_verdict}, a control disagrees"
    right.set_title(f"{result.verdict} (Holm p = {p}{overruled})", fontsize=9)
    right.legend(fontsize=7, loc="best")
    fig.suptitle(f"{claim.id}: {claim.source}", fontsize=10)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, metadata=PNG_METADATA)
    plt.close(fig)
    return buffer.getvalue()
