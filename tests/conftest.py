"""Suite-wide options: ``--device`` selects where the device-sensitive tests run.

``pytest --device cuda -m device`` runs the device-sensitive subset on CUDA (what
``bench/gpu.sh`` does): the tests that take the ``device`` fixture (optimizers, Lanczos,
trace, PINN Laplacians, one step of every problem x optimizer) plus the runner tests of
batched cells, ensembles and the no-sync loop, whose studies use ``device = "auto"`` and
therefore run on the GPU whenever one is present. Without CUDA those tests are skipped
with the reason; the default (``--device cpu``) runs everything on the CPU.
"""

from __future__ import annotations

import pytest
import torch

# Runner tests that exercise the device through ``device = "auto"`` studies.
AUTO_DEVICE_TESTS = (
    "tests/runner/test_batched.py",
    "tests/runner/test_batched_nosync.py",
    "tests/runner/test_ensemble.py",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--device", default="cpu", choices=("cpu", "cuda"),
                     help="device of the device-sensitive tests (default cpu); select them with -m device")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "device: device-sensitive test (runs on --device)")


def _cuda_requested_but_absent(config: pytest.Config) -> bool:
    return config.getoption("--device") == "cuda" and not torch.cuda.is_available()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="--device cuda: CUDA is not available on this machine")
    for item in items:
        path = item.nodeid.split("::")[0]
        if "device" in getattr(item, "fixturenames", ()) or path in AUTO_DEVICE_TESTS:
            item.add_marker(pytest.mark.device)
            if _cuda_requested_but_absent(config):
                item.add_marker(skip)


@pytest.fixture(scope="session")
def device(request: pytest.FixtureRequest) -> torch.device:
    """The ``--device`` of this session (``cpu`` unless asked otherwise)."""
    name = request.config.getoption("--device")
    if name == "cuda" and not torch.cuda.is_available():
        pytest.skip("--device cuda: CUDA is not available on this machine")
    return torch.device(name)
