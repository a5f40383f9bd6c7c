"""Spike statistics of a run for ``summary.csv`` (SPEC 4), via the shared spike rule.

The event-aligned rule is used when the run has events (injections, ROI events), the
unaligned rule otherwise; ``spike_count_unaligned`` is always reported so that runs with
and without events can be compared on one footing. Runs with events also get the
threshold-free burst metrics (median excess loss and recovery time, spike counts over
:data:`~muonlab.diagnostics.spikes.RHO_GRID`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from muonlab.diagnostics.spikes import RHO_GRID, burst_columns, burst_summary, rho_column, rule_description, spike_columns, spike_summary

RULE_COLUMNS = (
    "spike_count",
    "spike_peak_max",
    "spike_peak_median",
    "recovery_median",
    "valid_event_rate",
    "spike_count_unaligned",
)
# Threshold-free burst metrics (SPEC 11), NaN for runs without events.
BURST_COLUMNS = ("excess_loss_median", "recovery_time_median", *(rho_column(r) for r in RHO_GRID))
SPIKE_COLUMNS = (*RULE_COLUMNS, *BURST_COLUMNS)


def spike_statistics(losses: np.ndarray, event_steps: Sequence[int], rule: Mapping[str, Any]) -> dict[str, Any]:
    """The ``SPIKE_COLUMNS`` of one run. ``losses[i]`` is the loss of step ``i + 1``;
    ``event_steps`` are 1-based steps; ``rule`` holds window, tau, baseline, rho, delta."""
    # Numpy columns, no DataFrame: this runs once per run, after the training loop.
    unaligned = spike_summary(spike_columns(losses, window=rule["window"], tau=rule["tau"]))
    if event_steps:
        # One event-aligned table serves the SPEC 4 statistics and the burst metrics.
        events = spike_columns(
            losses,
            window=rule["window"],
            tau=rule["tau"],
            event_steps=event_steps,
            baseline=rule["baseline"],
            rho=rule["rho"],
            delta=rule["delta"],
        )
        stats = spike_summary(events)
    else:
        stats = unaligned
    out = {key: stats[key] for key in RULE_COLUMNS[:-1]}
    out["spike_count_unaligned"] = unaligned["spike_count"]
    if event_steps:
        out.update(burst_summary(burst_columns(losses, events)))
    else:
        out.update(dict.fromkeys(BURST_COLUMNS, np.nan))
    return out


def describe_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """The rule and its parameters for ``manifest.json``."""
    return rule_description(**rule)
