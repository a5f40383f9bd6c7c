"""A seed-batched run reuses its freed tensor memory (glibc, after keep_freed_memory,
which every run calls): its steps fault in (almost) no new pages."""

from __future__ import annotations

import resource

import pytest

from muonlab.runner import parse_study
from muonlab.runner.batched import run_batch
from muonlab.runner.host_memory import keep_freed_memory

# 32 seeds of AWB-T d = 64: every (32, 64, 64) float32 tensor is 512 KiB, the size at
# which glibc's default thresholds trim and re-fault the heap step after step.
STUDY = """
seeds = 32
steps = 60
every = 1
[problem]
name = "awbt"
d = 64
[injection]
K_out = 20
[[optimizers]]
name = "trasmuon"
lr = 3e-3
"""


def test_batched_run_reuses_freed_memory():
    if not keep_freed_memory():
        pytest.skip("the C library has no mallopt (not glibc)")
    configs = parse_study(STUDY).runs()
    run_batch(configs)  # the heap grows to the run's peak once
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    run_batch(configs)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    # With glibc's default (dynamic) thresholds the same run took 5,000-12,000 faults
    # (the freed top of the heap handed back to the OS and touched again); with the
    # fixed ones 6-330 (the interpreter's and the first steps' own allocations).
    assert faults < 2000


@pytest.mark.parametrize("environ, tuned", [
    ({}, False),
    ({"GLIBC_TUNABLES": "glibc.pthread.rseq=0"}, False),
    ({"MALLOC_TRIM_THRESHOLD_": "0"}, True),
    ({"MALLOC_MMAP_THRESHOLD_": "131072"}, True),
    ({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"}, True),
])
def test_user_malloc_tuning_is_left_alone(environ: dict[str, str], tuned: bool):
    from muonlab.runner.host_memory import _user_tuned_malloc

    assert _user_tuned_malloc(environ) is tuned
