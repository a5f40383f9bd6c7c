"""Device and dtype resolution for runs (SPEC 5: ``device="auto"`` -> CUDA if available)."""

from __future__ import annotations

import os
import platform
from typing import Any

import torch

from .settings import ConfigError

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(name: str) -> torch.device:
    """``auto`` -> ``cuda`` when available else ``cpu``; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: 'cuda' requested but no CUDA device is available; use auto or cpu")
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    """Human-readable device for ``manifest.json``."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return "cpu"


# CPU flags that change which float32 kernels torch and MKL/oneDNN pick (and so the
# rounding of their reductions).
KERNEL_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_tile")


def describe_cpu() -> dict[str, Any]:
    """The CPU a study ran on, for ``manifest.json``: model, the kernel-relevant flags,
    torch's kernel choice (``torch.backends.cpu.get_cpu_capability()``, which
    ``ATEN_CPU_CAPABILITY`` overrides), the driver's torch thread count (runs compute
    with the backend's ``threads_per_worker``, recorded by the runner as ``run_threads``) and the environment
    variables that change kernels or threads. Same machine, torch and thread count
    give identical bytes; another CPU rounds float32 differently (docs/studies.md)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                if key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    env = ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    return {
        "model": model,
        "flags": [f for f in KERNEL_FLAGS if f in flags],
        "torch_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads_driver": torch.get_num_threads(),
        "logical_cpus": os.cpu_count(),
        "environment": {k: os.environ[k] for k in env if k in os.environ},
    }
