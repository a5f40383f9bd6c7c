"""Device placement (issue 16, SPEC 8 "GPU").

On every machine: one step of every problem x optimizer (single runs and seed batches)
with all tensors on the ``meta`` device, where a tensor created on the CPU by mistake
fails the first operation that mixes it in ("Tensor on device cpu is not on the expected
device meta"), as it would on a user's GPU. With ``--device cuda`` (``-m device``):
optimizers, Lanczos, Hutch++ and the PINN Laplacians on the GPU against the CPU.
"""

from __future__ import annotations

import pytest
import torch

from muonlab import optim
from muonlab.diagnostics import MatrixOperator, hutchpp_trace, lanczos
from muonlab.optim.registry import OPTIMIZERS
from muonlab.pinn import forward_laplacian, laplacian_autograd
from muonlab.runner import parse_study
from muonlab.runner.adapters import ADAPTERS, Seeds, build_cell_task, build_task

EPS32 = torch.finfo(torch.float32).eps
EPS64 = torch.finfo(torch.float64).eps
META = torch.device("meta")
# Step-size hyperparameter name of the optimizers that have no ``lr``.
LR_NAME = {"da-muon": "eta_max", "sc-muon": "eta_max", "df-muon": "eta_max"}


def _study(problem: str, optimizer: str, seeds: int = 1) -> str:
    return (f'seeds = {seeds}\nsteps = 2\nevery = 1\n[problem]\nname = "{problem}"\n'
            f'[[optimizers]]\nname = "{optimizer}"\n{LR_NAME.get(optimizer, "lr")} = 0.01\n')


def _one_step(task) -> dict[str, torch.Tensor]:
    task.optimizer.zero_grad(set_to_none=True)
    objective, _ = task.loss(1)
    objective.backward()
    task.optimizer.step()
    return {**task.optimizer.last_stats_tensors(), **task.metrics()}


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("problem", list(ADAPTERS))
def test_one_step_on_meta_creates_nothing_on_the_cpu(problem: str, optimizer: str) -> None:
    (config,) = parse_study(_study(problem, optimizer)).runs()
    task = build_task(config, device=META, dtype=torch.float32)
    row = _one_step(task)
    assert row and all(v.device == META for v in row.values())
    assert all(p.device == META for p in task.params)


@pytest.mark.parametrize("optimizer", [name for name in OPTIMIZERS if "batched" in optim.hyperparameters(name)])
# The river-valley batch compares its seeds' settings by value (torch.equal), which meta
# tensors do not have; its single runs are covered above.
@pytest.mark.parametrize("problem", [name for name in ADAPTERS if name != "river_valley"])
def test_one_batched_step_on_meta_creates_nothing_on_the_cpu(problem: str, optimizer: str) -> None:
    configs = parse_study(_study(problem, optimizer, seeds=2)).runs()
    batch = build_cell_task(Seeds(tuple(configs), batched=True), device=META, dtype=torch.float32)
    row = _one_step(batch)
    assert row and all(v.device == META for v in row.values())


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_steps_on_device_match_the_cpu(name: str, device: torch.device) -> None:
    g = torch.Generator().manual_seed(0)
    shapes = [(24, 16), (16, 24)]
    start = [torch.randn(s, generator=g) for s in shapes]
    grads = [[torch.randn(s, generator=g) for s in shapes] for _ in range(3)]
    finals = {}
    for where in (torch.device("cpu"), device):
        params = [torch.nn.Parameter(p.to(where)) for p in start]
        opt = optim.build(name, params, **{LR_NAME.get(name, "lr"): 0.01})
        for step_grads in grads:
            for p, gr in zip(params, step_grads):
                p.grad = gr.to(where)
            opt.step()
        assert all(v.device.type == where.type for v in opt.last_stats_tensors().values())
        finals[where.type] = [(p.detach().cpu() - s) for p, s in zip(params, start)]
    for cpu, dev in zip(finals["cpu"], finals[device.type]):
        # Different kernels round differently; NS5 can amplify a rounding difference by
        # about (|a| + |b| + |c|)^5 / its normalisation, ~1e5 in the worst direction, so
        # the changes agree to 1e5 eps_f32 of their size (identical on the same device): a
        # worst-case bound, not derived per input.
        torch.testing.assert_close(dev, cpu, rtol=0, atol=1e5 * EPS32 * float(cpu.abs().max()))


def test_lanczos_and_hutchpp_on_device_match_dense_cpu(device: torch.device) -> None:
    g = torch.Generator().manual_seed(1)
    X = torch.randn(60, 60, generator=g, dtype=torch.float64)
    A = X @ X.T / 60
    truth = torch.linalg.eigvalsh(A).flip(0)[:5]
    result = lanczos(MatrixOperator(A.to(device)), 5, tol=1e-10)
    assert result.eigenvectors.device.type == device.type
    # Eigenvalue error <= residual^2 / gap + roundoff; residual <= 1e-10 |theta|.
    torch.testing.assert_close(result.eigenvalues.cpu(), truth, rtol=1e-9, atol=0)
    trace = hutchpp_trace(MatrixOperator(A.to(device)), n_samples=60)
    assert abs(trace.estimate - float(torch.trace(A))) <= 4 * trace.stderr + 1e3 * EPS64 * float(torch.trace(A))


def test_pinn_laplacian_on_device_matches_autograd(device: torch.device) -> None:
    g = torch.Generator().manual_seed(3)
    W1, b1 = torch.randn(8, 2, dtype=torch.float64, generator=g), torch.randn(8, dtype=torch.float64, generator=g)
    w2, b2 = torch.randn(1, 8, dtype=torch.float64, generator=g), torch.randn(1, dtype=torch.float64, generator=g)
    params = [t.to(device) for t in (W1, b1, w2, b2)]
    x = torch.rand(32, 2, dtype=torch.float64, generator=g).to(device)

    def u(points: torch.Tensor) -> torch.Tensor:
        return torch.tanh(points @ params[0].T + params[1]) @ params[2][0] + params[3]

    u_fwd, lap_fwd = forward_laplacian(params, x)
    u_ref, lap_ref = laplacian_autograd(u, x)
    assert lap_fwd.device.type == device.type
    # float64 closed-form vs autograd: both O(eps64 * width) from the exact Laplacian.
    torch.testing.assert_close(lap_fwd, lap_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(u_fwd, u_ref, rtol=1e-14, atol=1e-14)
