"""Loss-spike detection and recovery, SPEC 4 (the same deterministic rule for every
method; :func:`rule_description` goes into ``manifest.json``).

Input ``losses``: a 1-D array with ``losses[i]`` the loss at step ``i + 1``, or a pandas
Series indexed by consecutive integer steps. Both rules return one row per event.

*Unaligned* (a plain series; window ``w``, threshold ``tau``): step t is a spike step
when ``L_t > tau * ref_t`` with ``ref_t = median(L_{t-w..t-1})``. The first ``w`` steps
have no full window and are never spike steps (a partial median over the first few,
typically fastest-falling, steps would flag ordinary early progress). Consecutive spike
steps form one event; its reference is ``ref`` at the event's first step, its peak
``max L_t / ref`` over the event and its recovery the number of steps from the event
start until ``L <= ref`` first holds again (NaN, censored and not valid, if the run
ends first).

*Event-aligned* (known event steps e): ``b_e = median(L_{e-B..e-1})`` (an event with
fewer than B earlier steps has no baseline and cannot spike); horizon ``H_e`` = steps
to the next event minus 1, capped by the run end; ``r_e = max_{k=1..H} L_{e+k} / b_e``
(and ``L_e / b_e`` separately); spike when ``r_e >= rho``; recovery ``tau_e`` = the
first ``k >= argmax`` with ``L_{e+k} <= (1 + delta) b_e``, searched to the run end (NaN,
censored, if never); an event is valid when it is a spike and ``tau_e`` is finite and
``<= H``. Events after the last step (a run stopped early) are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

UNALIGNED_COLUMNS = ["step", "end_step", "peak_step", "reference", "peak", "spike",
                     "recovery", "valid"]
ALIGNED_COLUMNS = ["step", "baseline", "event_ratio", "horizon", "peak", "peak_step",
                   "spike", "recovery", "valid"]


def _as_series(losses: Iterable[float] | pd.Series) -> pd.Series:
    """Float64 series indexed by consecutive integer steps (an array starts at step 1)."""
    if isinstance(losses, pd.Series):
        series = losses.astype("float64")
        steps = series.index.to_numpy()
        if len(steps) and (not np.issubdtype(steps.dtype, np.integer) or np.any(np.diff(steps) != 1)):
            raise ValueError("spike_events: losses must be indexed by consecutive integer steps")
        return series
    values = np.asarray(losses, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"spike_events: losses must be 1-D, got shape {values.shape}")
    return pd.Series(values, index=pd.RangeIndex(1, len(values) + 1))


def _as_array(losses: Iterable[float] | pd.Series) -> tuple[np.ndarray, int]:
    """The float64 values of ``losses`` and the step of the first one (checked as in
    :func:`_as_series`; a plain array needs no pandas)."""
    if isinstance(losses, pd.Series):
        series = _as_series(losses)
        return series.to_numpy(), int(series.index[0]) if len(series) else 1
    values = np.asarray(losses, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"spike_events: losses must be 1-D, got shape {values.shape}")
    return values, 1


def _check(name: str, value: float, minimum: float, *, integer: bool = False, strict: bool = False) -> None:
    bad = (integer and (isinstance(value, bool) or not isinstance(value, (int, np.integer)))) or \
        not np.isfinite(value) or (value <= minimum if strict else value < minimum)
    if bad:
        kind = "an integer" if integer else "a finite number"
        raise ValueError(f"spike_events: {name} must be {kind} {'>' if strict else '>='} {minimum}, "
                         f"got {value!r}")


def _trailing_median(L: np.ndarray, window: int) -> np.ndarray:
    """``median(L_{t-window..t-1})`` at each t; NaN without a full window of finite
    values. These are the values of pandas' ``rolling(window, min_periods=window)
    .median().shift(1)`` (which reads +-inf as missing), without its per-call overhead:
    both take the middle value, or ``(a + b) / 2`` of the two middle ones."""
    out = np.full(L.shape, np.nan)
    if L.size > window:
        finite = np.where(np.isinf(L[:-1]), np.nan, L[:-1])
        out[window:] = np.median(np.lib.stride_tricks.sliding_window_view(finite, window), axis=1)
    return out


def _first_at_or_below(values: np.ndarray, level: float) -> float:
    """Index of the first entry ``<= level`` (NaN if none)."""
    hits = np.flatnonzero(values <= level)
    return float(hits[0]) if hits.size else np.nan


Columns = dict[str, np.ndarray]
_UNALIGNED_DTYPES = dict(zip(UNALIGNED_COLUMNS, ("int64", "int64", "int64", "float64", "float64", "bool",
                                                 "float64", "bool")))
_ALIGNED_DTYPES = dict(zip(ALIGNED_COLUMNS, ("int64", "float64", "float64", "int64", "float64", "int64",
                                             "bool", "float64", "bool")))


def _columns(rows: list[tuple], dtypes: dict[str, str]) -> Columns:
    """One typed array per column of ``rows`` (in the order of ``dtypes``)."""
    if not rows:
        return {name: np.empty(0, dtype=dtype) for name, dtype in dtypes.items()}
    return {name: np.asarray(values, dtype=dtype) for (name, dtype), values in zip(dtypes.items(), zip(*rows))}


def _unaligned(L: np.ndarray, first: int, window: int, tau: float) -> Columns:
    ref = _trailing_median(L, window)
    with np.errstate(invalid="ignore"):
        is_spike = L > tau * ref  # NaN reference (no full window) compares False
    padded = np.concatenate([[False], is_spike, [False]])
    starts = np.flatnonzero(padded[1:-1] & ~padded[:-2])
    ends = np.flatnonzero(padded[1:-1] & ~padded[2:])
    rows = []
    for s, e in zip(starts, ends):
        r = ref[s]
        k_peak = int(np.argmax(L[s:e + 1]))
        recovery = _first_at_or_below(L[s:], r)
        rows.append((first + s, first + e, first + s + k_peak, r, L[s + k_peak] / r, True,
                     recovery, bool(np.isfinite(recovery))))
    return _columns(rows, _UNALIGNED_DTYPES)


def _aligned(L: np.ndarray, first: int, events: np.ndarray, baseline: int, rho: float,
             delta: float) -> Columns:
    last = first + L.size - 1
    base_all = _trailing_median(L, baseline)
    events = np.unique(events)
    if events.size and events[0] < first:
        raise ValueError(f"spike_events: event_steps must be >= the first step {first}, "
                         f"got {int(events[0])}")
    events = events[events <= last]
    horizons = np.minimum(np.append(events[1:], last + 1) - events - 1, last - events)
    rows = []
    for e, H in zip(events, horizons):
        i = e - first
        b = base_all[i]
        after = L[i + 1:]  # L_{e+1}, ..., L_last
        with np.errstate(divide="ignore", invalid="ignore"):
            event_ratio = L[i] / b
            if H >= 1 and np.isfinite(b):
                k_star = int(np.argmax(after[:H]))  # k - 1 of the argmax
                peak = after[k_star] / b
                k_rec = _first_at_or_below(after[k_star:], (1.0 + delta) * b)
                recovery = k_star + 1 + k_rec
            else:
                k_star, peak, recovery = -1, np.nan, np.nan
        spike = bool(peak >= rho)  # NaN peak -> no spike
        valid = spike and bool(np.isfinite(recovery)) and recovery <= H
        rows.append((e, b, event_ratio, H, peak, e + k_star + 1 if k_star >= 0 else -1,
                     spike, recovery, valid))
    return _columns(rows, _ALIGNED_DTYPES)


def _rule_columns(L: np.ndarray, first: int, window: int, tau: float, event_steps: Iterable[int] | None,
                  baseline: int, rho: float, delta: float) -> Columns:
    if event_steps is None:
        _check("window", window, 1, integer=True)
        _check("tau", tau, 0.0, strict=True)
        return _unaligned(L, first, window, tau)
    _check("baseline", baseline, 1, integer=True)
    _check("rho", rho, 0.0, strict=True)
    _check("delta", delta, 0.0)
    events = np.asarray(list(event_steps), dtype=np.int64)
    return _aligned(L, first, events, baseline, rho, delta) if L.size else _columns([], _ALIGNED_DTYPES)


def spike_columns(losses: Iterable[float] | pd.Series, window: int = 20, tau: float = 1.5,
                  event_steps: Iterable[int] | None = None, *, baseline: int = 10,
                  rho: float = 3.0, delta: float = 0.5) -> Columns:
    """:func:`spike_events`' table as one numpy array per column, without building a
    DataFrame (what the runner's per-run statistics read)."""
    L, first = _as_array(losses)
    return _rule_columns(L, first, window, tau, event_steps, baseline, rho, delta)


def spike_events(losses: Iterable[float] | pd.Series, window: int = 20, tau: float = 1.5,
                 event_steps: Iterable[int] | None = None, *, baseline: int = 10,
                 rho: float = 3.0, delta: float = 0.5) -> pd.DataFrame:
    """Spike events of a loss series (SPEC 4).

    Without ``event_steps``: the unaligned rule (``window``, ``tau``); columns
    ``step`` (event start), ``end_step``, ``peak_step``, ``reference``, ``peak``,
    ``spike`` (always True), ``recovery`` (steps, NaN if censored), ``valid``.
    With ``event_steps``: the event-aligned rule (``baseline`` B, ``rho``, ``delta``),
    one row per event: ``step`` (e), ``baseline`` (b_e), ``event_ratio`` (L_e / b_e),
    ``horizon`` (H), ``peak`` (r_e), ``peak_step`` (-1 when H = 0), ``spike``,
    ``recovery`` (tau_e), ``valid``. ``df.attrs["rule"]`` names the rule used.
    """
    L, first = _as_array(losses)
    columns = _rule_columns(L, first, window, tau, event_steps, baseline, rho, delta)
    if event_steps is None:
        out = pd.DataFrame(columns)
        out.attrs["rule"] = "unaligned"
    else:
        out = pd.DataFrame(columns) if L.size else pd.DataFrame(columns=ALIGNED_COLUMNS)
        out.attrs["rule"] = "event-aligned"
    return out


def _nan_median(values: np.ndarray) -> float:
    """Median of the non-NaN ``values``: the same call as pandas' ``Series.median()``."""
    return float(np.nanmedian(values[~np.isnan(values)]))


def spike_summary(events: pd.DataFrame | Columns) -> dict[str, float]:
    """Per-run statistics of a :func:`spike_events` table (or its :func:`spike_columns`):
    ``spike_count``, peak max and median over spikes, ``recovery_median`` over valid
    events, ``valid_event_rate`` = valid / spikes (NaN when there are no spikes, as are
    the peak statistics)."""
    spike = np.asarray(events["spike"], dtype=bool)
    valid = spike & np.asarray(events["valid"], dtype=bool)
    peaks = np.asarray(events["peak"], dtype=np.float64)[spike]
    recovery = np.asarray(events["recovery"], dtype=np.float64)[valid]
    n, n_valid = int(np.count_nonzero(spike)), int(np.count_nonzero(valid))
    return {
        "spike_count": n,
        "spike_peak_max": float(np.nanmax(peaks)) if n else np.nan,
        "spike_peak_median": _nan_median(peaks) if n else np.nan,
        "recovery_median": _nan_median(recovery) if n_valid else np.nan,
        "valid_event_rate": n_valid / n if n else np.nan,
    }


def rule_description(window: int = 20, tau: float = 1.5, *, baseline: int = 10,
                     rho: float = 3.0, delta: float = 0.5) -> dict[str, dict[str, object]]:
    """Both rules and their parameters, for ``manifest.json`` (SPEC 4)."""
    return {
        "unaligned": {
            "window": window, "tau": tau,
            "rule": "spike step: L_t > tau * median(L_{t-w..t-1}) (no spike in the first w steps); "
                    "consecutive spike steps = one event; peak = max L_t / ref(start); "
                    "recovery = steps from start until L <= ref(start), NaN if censored",
        },
        "event_aligned": {
            "baseline": baseline, "rho": rho, "delta": delta,
            "rule": "b_e = median(L_{e-B..e-1}); H = steps to next event - 1, capped by run end; "
                    "r_e = max_{k=1..H} L_{e+k} / b_e; spike: r_e >= rho; recovery = first "
                    "k >= argmax with L_{e+k} <= (1 + delta) b_e; valid: spike, finite, <= H",
        },
    }


# -- threshold-free burst metrics (SPEC 11) ---------------------------------------------

RHO_GRID = (1.25, 1.5, 2.0, 3.0, 5.0)
BURST_COLUMNS = ["step", "baseline", "horizon", "peak", "excess_loss", "recovery_time"]


def _bursts(L: np.ndarray, first: int, events: Columns) -> Columns:
    excess, recovery = [], []
    for e, b, H, peak in zip(events["step"], events["baseline"], events["horizon"], events["peak"]):
        if not (np.isfinite(b) and H >= 1 and np.isfinite(peak)):
            excess.append(np.nan)
            recovery.append(np.nan)
            continue
        window = L[e - first + 1:e - first + 1 + H] / b
        excess.append(float(np.clip(window - 1.0, 0.0, None).sum()))
        if peak <= 1.0:
            recovery.append(0.0)
            continue
        k_star = int(np.argmax(window))
        k_rec = _first_at_or_below(window[k_star:], 1.0)
        recovery.append(k_star + 1 + k_rec if np.isfinite(k_rec) else np.inf)
    out = {key: events[key] for key in BURST_COLUMNS[:4]}
    out["excess_loss"] = np.asarray(excess, dtype=np.float64)
    out["recovery_time"] = np.asarray(recovery, dtype=np.float64)
    return out


def burst_columns(losses: Iterable[float] | pd.Series, events: Columns) -> Columns:
    """:func:`burst_metrics` from the event-aligned :func:`spike_columns` ``events`` of
    the same ``losses`` (the runner has them already), one array per column."""
    L, first = _as_array(losses)
    return _bursts(L, first, events)


def burst_metrics(losses: Iterable[float] | pd.Series, event_steps: Iterable[int], *,
                  baseline: int = 10) -> pd.DataFrame:
    """Threshold-free response of the loss to each known event (SPEC 11).

    With ``b_e``, ``H`` and ``r_e`` (``peak``) of the event-aligned rule:
    ``excess_loss = sum_{k=1..H} (L_{e+k} / b_e - 1)^+`` (the area of the loss above its
    pre-event level over the inter-event window, in units of ``b_e``-steps) and
    ``recovery_time`` = 0 when ``r_e <= 1`` (the loss never rose above ``b_e``), else the
    first ``k >= argmax`` with ``L_{e+k} <= b_e``, ``inf`` (censored) if that does not
    happen within ``H``. Events without a baseline or a window (``H = 0``) give NaN.
    """
    L, first = _as_array(losses)
    if not L.size:  # no steps, no events: the empty table of spike_events' empty case
        return pd.DataFrame(columns=BURST_COLUMNS).astype({"excess_loss": "float64", "recovery_time": "float64"})
    events = _rule_columns(L, first, 20, 1.5, event_steps, baseline, 3.0, 0.5)
    return pd.DataFrame(_bursts(L, first, events))


def spike_count_curve(peaks: Iterable[float], rhos: Iterable[float] = RHO_GRID) -> dict[float, int]:
    """``{rho: #events with r_e >= rho}`` over a threshold grid (NaN peaks never count)."""
    values = np.asarray(list(peaks), dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return {float(rho): int(np.sum(values >= rho)) for rho in rhos}


def rho_column(rho: float) -> str:
    """``spike_count@RHO`` column name (``spike_count@1.5``, ``spike_count@2``)."""
    return f"spike_count@{rho:g}"


def burst_summary(bursts: pd.DataFrame | Columns, rhos: Iterable[float] = RHO_GRID) -> dict[str, float]:
    """Per-run medians of a :func:`burst_metrics` table or its :func:`burst_columns` (NaN
    events left out; a censored recovery counts as ``inf``, so the median is ``inf`` when
    most events are censored) and the spike-count curve as ``spike_count@RHO`` entries."""
    def median(column: str) -> float:
        values = np.asarray(bursts[column], dtype=np.float64)
        values = values[~np.isnan(values)]
        return float(np.median(values)) if values.size else np.nan

    out: dict[str, float] = {"excess_loss_median": median("excess_loss"),
                             "recovery_time_median": median("recovery_time")}
    out.update({rho_column(rho): n for rho, n in spike_count_curve(bursts["peak"], rhos).items()})
    return out
