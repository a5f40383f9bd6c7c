"""Sync-free logging (SPEC 8): the training loop reads no device value per step.

On CPU nothing blocks, so the test counts the calls that would force a host-device sync
on CUDA (``item``, ``tolist``, ``cpu``, ``numpy``, ``bool``/``float``/``int`` of a
tensor, ``nonzero``) during a whole run. Runs of different lengths that share the same
flush points must make the same number of such calls: one per step (or per logged row,
or per injection event) would make the longer run count more. Calls made by
``torch.optim`` itself are not counted: its step counters live on the host
(``capturable=False``), so reading them is no device sync.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import torch

from muonlab.runner import parse_study, run
from muonlab.runner.batched import run_batch
from muonlab.runner.adapters import ADAPTERS, Adapter

SYNCING = ("item", "tolist", "cpu", "numpy", "nonzero", "__bool__", "__float__", "__int__", "__index__")


@contextmanager
def counting_syncs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter]:
    counts: Counter = Counter()

    def counted(name: str, method: Callable) -> Callable:
        def wrapper(self, *args, **kwargs):
            if not sys._getframe(1).f_globals.get("__name__", "").startswith("torch.optim"):
                counts[name] += 1
            return method(self, *args, **kwargs)

        return wrapper

    with monkeypatch.context() as patch:
        for name in SYNCING:
            patch.setattr(torch.Tensor, name, counted(name, getattr(torch.Tensor, name)))
        yield counts


STUDY = """
seeds = 2
steps = {steps}
every = 1
[problem]
name = "awbt"
d = 8
fix_V = false
[injection]
K_out = 5
site = "{site}"
[[optimizers]]
name = "{optimizer}"
lr = 0.01
"""


def configs(steps: int, optimizer: str, site: str):
    return parse_study(STUDY.format(steps=steps, optimizer=optimizer, site=site)).runs()


def syncs(monkeypatch: pytest.MonkeyPatch, steps: int, optimizer: str, site: str, batched: bool) -> Counter:
    runs = configs(steps, optimizer, site)
    with counting_syncs(monkeypatch) as counts:
        results = run_batch(runs) if batched else [run(runs[0])]
    assert all(r.status == "done" and len(r.columns["step"]) == steps for r in results)
    return counts


@pytest.mark.parametrize(
    ("optimizer", "site", "batched"),
    [("trasmuon", "momentum", False), ("amuse", "momentum", False), ("adamw", "gradient", False),
     ("trasmuon", "momentum", True), ("normuon", "gradient", True)],
)
def test_no_host_sync_per_step(monkeypatch: pytest.MonkeyPatch, optimizer: str, site: str, batched: bool) -> None:
    # Both lengths have one flush point (the last step, < FLUSH_STEPS) and 4 vs 12 events.
    short, long = (syncs(monkeypatch, steps, optimizer, site, batched) for steps in (20, 60))
    assert short == long


def test_a_per_step_read_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The counter sees a metric read back with ``.item()`` on every logged row."""
    original = ADAPTERS["awbt"].build

    def reading(seeds, device, dtype):
        task = original(seeds, device, dtype)
        metrics = task.metrics
        task.metrics = lambda: {k: torch.tensor(v.item()) for k, v in metrics().items()}
        return task

    monkeypatch.setitem(ADAPTERS, "awbt", Adapter(reading))
    short, long = (syncs(monkeypatch, steps, "muon", "momentum", False) for steps in (20, 60))
    assert long["item"] - short["item"] == 40
