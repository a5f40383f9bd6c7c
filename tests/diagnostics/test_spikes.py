import math
import statistics

import numpy as np
import pandas as pd
import pytest

from muonlab.diagnostics.spikes import rule_description, spike_events, spike_summary

nan = float("nan")


def _series(n, **at):
    """Ones, with L[step] overridden by at={'s31': 3.0, ...}."""
    L = np.ones(n)
    for key, v in at.items():
        L[int(key[1:]) - 1] = v
    return L


# ---------------------------------------------------------------- unaligned
def test_unaligned_spike_peak_recovery():
    L = _series(60, s31=3.0, s32=4.0, s33=1.2)
    ev = spike_events(L)
    assert ev.attrs["rule"] == "unaligned" and len(ev) == 1
    row = ev.iloc[0]
    assert (row.step, row.end_step, row.peak_step) == (31, 32, 32)
    assert row.reference == 1.0 and row.peak == 4.0
    assert row.recovery == 3 and row.valid  # step 34 is the first back at <= 1
    s = spike_summary(ev)
    assert s == {"spike_count": 1, "spike_peak_max": 4.0, "spike_peak_median": 4.0,
                 "recovery_median": 3.0, "valid_event_rate": 1.0}


def test_unaligned_censored_recovery():
    L = np.concatenate([np.ones(25), [5.0, 5.0, 1.2, 1.2, 1.2]])
    ev = spike_events(L)
    assert len(ev) == 1 and math.isnan(ev.recovery[0]) and not ev.valid[0]
    s = spike_summary(ev)
    assert s["spike_count"] == 1 and s["valid_event_rate"] == 0.0 and math.isnan(s["recovery_median"])


def test_unaligned_window_edges():
    # step 5 has no full window: never a spike; step 21 is the first with a full window
    assert len(spike_events(_series(40, s5=10.0))) == 0
    ev = spike_events(_series(40, s21=10.0))
    assert ev.step.tolist() == [21] and ev.recovery.tolist() == [1.0]
    ev = spike_events(_series(40, s20=10.0))
    assert len(ev) == 0
    # threshold is strict: exactly tau * ref is not a spike
    assert len(spike_events(_series(40, s30=1.5))) == 0 and len(spike_events(_series(40, s30=1.5001))) == 1


def test_unaligned_median_reference_and_two_events():
    L = np.concatenate([np.arange(1.0, 21.0), np.full(10, 10.5), [20.0], np.full(5, 10.5), [40.0, 10.0]])
    ev = spike_events(L, window=20, tau=1.5)
    # reference at step 31 = median(steps 11..30) = median(11..20, 10.5 x10) = 10.75
    assert ev.step.tolist() == [31, 37]
    assert ev.reference[0] == pytest.approx(10.75) and ev.peak[0] == pytest.approx(20 / 10.75)
    assert ev.recovery.tolist() == [1.0, 1.0]


def test_no_spikes_gives_nan_summary():
    ev = spike_events(0.9 ** np.arange(100))
    assert len(ev) == 0 and list(ev.columns)[:2] == ["step", "end_step"]
    s = spike_summary(ev)
    assert s["spike_count"] == 0
    assert all(math.isnan(s[k]) for k in ("spike_peak_max", "spike_peak_median", "recovery_median",
                                          "valid_event_rate"))


# ---------------------------------------------------------------- event-aligned
def test_aligned_spike_recovery_and_event_ratio():
    L = _series(60, s20=2.0, s21=5.0, s22=2.0, s23=1.4, s41=2.5)
    ev = spike_events(L, event_steps=[20, 40], rho=3.0)
    assert ev.attrs["rule"] == "event-aligned"
    e20, e40 = ev.iloc[0], ev.iloc[1]
    assert (e20.step, e20.baseline, e20.event_ratio, e20.horizon) == (20, 1.0, 2.0, 19)
    assert (e20.peak, e20.peak_step, e20.spike, e20.recovery, e20.valid) == (5.0, 21, True, 3.0, True)
    assert (e40.horizon, e40.peak, e40.spike, e40.valid, e40.recovery) == (20, 2.5, False, False, 2.0)
    s = spike_summary(ev)
    assert s["spike_count"] == 1 and s["valid_event_rate"] == 1.0 and s["recovery_median"] == 3.0
    # toy-injection threshold rho = 1.5 flags both
    s15 = spike_summary(spike_events(L, event_steps=[20, 40], rho=1.5))
    assert s15["spike_count"] == 2 and s15["spike_peak_max"] == 5.0 and s15["spike_peak_median"] == 3.75


def test_aligned_recovery_starts_at_argmax_and_must_fit_horizon():
    # dip below (1 + delta) b before the peak does not count
    L = _series(40, s21=4.0, s22=1.0, s23=6.0, s24=1.0)
    (row,) = spike_events(L, event_steps=[20]).itertuples()
    assert row.peak == 6.0 and row.peak_step == 23 and row.recovery == 4.0 and row.valid
    # recovery after the next event: finite but beyond H, not valid
    L = np.ones(50)
    L[20:28] = 8.0  # steps 21..28 high, back to 1 at step 29 (k = 9)
    ev = spike_events(L, event_steps=[20, 25])
    assert ev.horizon.tolist() == [4, 25] and ev.recovery[0] == 9.0 and ev.spike[0] and not ev.valid[0]
    # censored: never back
    L = np.concatenate([np.ones(30), np.full(10, 9.0)])
    ev = spike_events(L, event_steps=[30])
    assert ev.spike[0] and math.isnan(ev.recovery[0]) and not ev.valid[0] and ev.horizon[0] == 10
    assert spike_summary(ev)["valid_event_rate"] == 0.0


def test_aligned_edges():
    L = np.concatenate([np.arange(1.0, 11.0), [30.0, 1.0], np.ones(8)])
    ev = spike_events(L, event_steps=[10, 5, 11, 20, 99])
    # sorted, the event after the run end dropped
    assert ev.step.tolist() == [5, 10, 11, 20]
    # step 5: fewer than B earlier steps -> no baseline, no spike
    assert math.isnan(ev.baseline[0]) and not ev.spike[0]
    # step 10: b = median(L_0..9) is undefined too (only 9 earlier steps); step 11: median(1..10)
    assert math.isnan(ev.baseline[1]) and ev.baseline[2] == 5.5
    # step 10 has H = 0 (next event at 11): no peak
    assert ev.horizon[1] == 0 and math.isnan(ev.peak[1]) and ev.peak_step[1] == -1
    # the last event: H capped by the run end, nothing after it
    assert ev.horizon[3] == 0
    with pytest.raises(ValueError, match="event_steps"):
        spike_events(L, event_steps=[0])


def test_series_input_by_step():
    L = _series(60, s31=3.0, s32=4.0, s33=1.2)
    pd.testing.assert_frame_equal(spike_events(pd.Series(L, index=range(1, 61))), spike_events(L))
    shifted = spike_events(pd.Series(L, index=range(101, 161)))
    assert shifted.step.tolist() == [131] and shifted.recovery.tolist() == [3.0]
    aligned = spike_events(pd.Series(L, index=range(101, 161)), event_steps=[130])
    assert aligned.peak.tolist() == [4.0] and aligned.peak_step.tolist() == [132]
    with pytest.raises(ValueError, match="consecutive"):
        spike_events(pd.Series([1.0, 2.0], index=[1, 3]))


def test_aligned_and_unaligned_differ():
    # a spike away from any event: only the unaligned rule sees it; a slow post-event rise
    # (never 1.5x the previous step's median) only the aligned rule sees
    L = np.ones(200)
    L[39] = 5.0
    L[80:140] = np.linspace(1.05, 3.5, 60)  # steps 81..140: gentle ramp after event 80
    un = spike_events(L)
    al = spike_events(L, event_steps=[80], rho=3.0)
    assert un.step.tolist() == [40]
    assert al.spike.tolist() == [True] and al.peak_step.tolist() == [140] and al.peak[0] == 3.5


# ---------------------------------------------------------------- reference transcription
def _ref_unaligned(L, w, tau):
    T = len(L)
    spike = [t >= w and L[t] > tau * statistics.median(L[t - w:t]) for t in range(T)]
    out, t = [], 0
    while t < T:
        if spike[t]:
            s = t
            while t + 1 < T and spike[t + 1]:
                t += 1
            ref = statistics.median(L[s - w:s])
            peak = max(L[u] / ref for u in range(s, t + 1))
            rec = next((u - s for u in range(s, T) if L[u] <= ref), nan)
            out.append((s + 1, t + 1, peak, rec))
        t += 1
    return out


def _ref_aligned(L, events, B, rho, delta):
    T, out = len(L), []
    events = sorted(e for e in set(events) if e <= T)
    for n, e in enumerate(events):
        nxt = events[n + 1] if n + 1 < len(events) else T + 1
        H = min(nxt - e - 1, T - e)
        if e - B < 1 or H < 1:
            out.append((e, False, nan, nan))
            continue
        b = statistics.median(L[e - B - 1:e - 1])  # L_{e-B..e-1}, steps are 1-based
        r = [L[e + k - 1] / b for k in range(1, H + 1)]
        kmax = 1 + int(np.argmax(r))
        tau_e = next((k for k in range(kmax, T - e + 1) if L[e + k - 1] <= (1 + delta) * b), nan)
        spike = max(r) >= rho
        out.append((e, spike, max(r), tau_e))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_matches_loop_transcription_on_random_spiky_series(seed):
    rng = np.random.default_rng(seed)
    T = 400
    L = np.exp(-np.arange(T) / 150) * (1 + 0.1 * rng.random(T))
    for s in rng.choice(np.arange(30, T), 12, replace=False):
        L[s:s + rng.integers(1, 6)] *= rng.uniform(1.2, 8.0)
    got = spike_events(L, window=20, tau=1.5)
    ref = _ref_unaligned(L.tolist(), 20, 1.5)
    assert len(got) == len(ref) > 0
    for row, (s, e, peak, rec) in zip(got.itertuples(), ref):
        assert (row.step, row.end_step) == (s, e) and row.peak == pytest.approx(peak)
        assert (math.isnan(rec) and math.isnan(row.recovery)) or row.recovery == rec
    events = sorted(rng.choice(np.arange(1, T + 30), 15, replace=False).tolist())
    got = spike_events(L, event_steps=events, baseline=10, rho=1.5, delta=0.5)
    ref = _ref_aligned(L.tolist(), events, 10, 1.5, 0.5)
    assert got.step.tolist() == [r[0] for r in ref]
    assert got.spike.tolist() == [r[1] for r in ref]
    np.testing.assert_allclose(got.peak, [r[2] for r in ref], equal_nan=True)
    np.testing.assert_allclose(got.recovery, [r[3] for r in ref], equal_nan=True)


@pytest.mark.parametrize("kw, field", [({"window": 0}, "window"), ({"tau": 0.0}, "tau"),
                                       ({"window": 2.5}, "window")])
def test_bad_input(kw, field):
    with pytest.raises(ValueError, match=field):
        spike_events(np.ones(30), **kw)
    with pytest.raises(ValueError, match="rho"):
        spike_events(np.ones(30), event_steps=[20], rho=-1.0)
    with pytest.raises(ValueError, match="1-D"):
        spike_events(np.ones((3, 3)))


def test_rule_description():
    d = rule_description(rho=1.5)
    assert d["unaligned"]["window"] == 20 and d["unaligned"]["tau"] == 1.5
    assert d["event_aligned"] == {**d["event_aligned"], "baseline": 10, "rho": 1.5, "delta": 0.5}


# ---------------------------------------------------------------- numpy fast path
@pytest.mark.parametrize("window", [1, 2, 5, 10, 20])
def test_trailing_median_equals_pandas_rolling(window):
    # pandas' rolling median (skiplist, +-inf read as missing) is the reference; the
    # numpy version must give the same bits, NaN where pandas has no full window.
    from muonlab.diagnostics.spikes import _trailing_median

    rng = np.random.default_rng(window)
    L = np.round(rng.lognormal(size=300), 2)  # rounding makes ties
    L[[40, 41, 120, 200]] = [np.nan, np.inf, -np.inf, 0.0]
    ref = pd.Series(L).replace([np.inf, -np.inf], np.nan).rolling(window, min_periods=window).median().shift(1).to_numpy()
    got = _trailing_median(L, window)
    assert np.array_equal(np.isnan(got), np.isnan(ref)) and np.array_equal(got[~np.isnan(ref)], ref[~np.isnan(ref)])


def test_columns_match_the_tables():
    from muonlab.diagnostics.spikes import burst_columns, burst_metrics, spike_columns

    rng = np.random.default_rng(3)
    L = np.exp(-np.arange(300) / 100) * (1 + 0.1 * rng.random(300))
    L[[60, 110, 170]] *= 5
    for kwargs in ({}, {"event_steps": [50, 100, 150, 300, 320], "rho": 1.5}):
        columns, table = spike_columns(L, **kwargs), spike_events(L, **kwargs)
        assert list(columns) == list(table.columns) and len(table) > 0
        for name, values in columns.items():
            assert values.dtype == table[name].dtype and np.array_equal(values, table[name].to_numpy(), equal_nan=True)
        a, b = spike_summary(columns), spike_summary(table)
        assert a.keys() == b.keys() and all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)
    bursts = burst_columns(L, spike_columns(L, event_steps=[50, 100, 150]))
    table = burst_metrics(L, [50, 100, 150])
    assert list(bursts) == list(table.columns)
    for name, values in bursts.items():
        assert np.array_equal(values, table[name].to_numpy(), equal_nan=True)
