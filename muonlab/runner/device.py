"""Device and dtype resolution for runs (SPEC 5: ``device="auto"`` -> CUDA if available)."""

from __future__ import annotations

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
