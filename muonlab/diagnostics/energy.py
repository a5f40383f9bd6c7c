"""Column-energy trace of a momentum matrix (T G.2; SPEC section 4, SPEC-optim trasmuon).

The observer-side version of TrasMuon's statistics, usable on any ``(m, n)`` momentum:
``E_j = sum_i M_ij^2`` (energy of input-feature column j), ``r_j = E_j / (E_ref + eps)``,
``r_q95`` the 0.95 quantile (``torch.quantile``, linear interpolation) and ``r_max`` the
maximum of ``r_j``.
"""

from __future__ import annotations

import torch


def column_energy(M: torch.Tensor) -> torch.Tensor:
    """``E_j = sum_i M_ij^2``: shape ``(n,)`` for ``(m, n)``, ``(S, n)`` per slice of ``(S, m, n)``."""
    if M.ndim not in (2, 3):
        raise ValueError(f"M must have shape (m, n) or (S, m, n), got {tuple(M.shape)}")
    return M.detach().square().sum(dim=-2)


def energy_ratios(
    E: torch.Tensor, E_ref: torch.Tensor | float, *, eps: float = 1e-8
) -> dict[str, torch.Tensor]:
    """``r_j = E_j / (E_ref + eps)`` and its summaries ``r_q95``, ``r_max``.

    ``E`` is ``(n,)`` or ``(S, n)``; ``E_ref`` a scalar or ``(S,)`` (one per slice).
    Returns tensors (``r`` like ``E``; summaries 0-d or ``(S,)``), no host sync.
    """
    if E.ndim not in (1, 2):
        raise ValueError(f"E must have shape (n,) or (S, n), got {tuple(E.shape)}")
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    ref = torch.as_tensor(E_ref, dtype=E.dtype, device=E.device)
    if ref.ndim == 1:
        ref = ref[:, None]
    r = E / (ref + eps)
    return {
        "r": r,
        "r_q95": torch.quantile(r, 0.95, dim=-1),
        "r_max": r.amax(dim=-1),
    }
