"""Policy lint (issue 11): a numeric tolerance in tests/ at float32 size (>= 1e-7) says
where it comes from. A line with ``rtol=``, ``atol=``, ``rel_tol=`` or ``abs_tol=`` set to
such a literal needs "bound", "not derived" or "not a rounding" in the comments or text
of the lines around it (docs/reproducibility.md). Tolerances computed from a bound
(``atol=bound``) and float64-sized literals (< 1e-7) pass as they are."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).parent
LITERAL = re.compile(r"\b(rtol|atol|rel_tol|abs_tol)\s*=\s*([0-9][0-9.eE+\-*]*)")
REASONS = ("bound", "not derived", "not a rounding")
ABOVE, BELOW = 12, 1


def unexplained_tolerances(text: str) -> list[tuple[int, str]]:
    """(line number, line) of each float32-sized literal tolerance without a reason."""
    lines = text.splitlines()
    found = []
    for i, line in enumerate(lines):
        for match in LITERAL.finditer(line):
            try:
                value = float(eval(match.group(2), {"__builtins__": {}}))  # literals like 1e3 * 2.0**-52
            except (SyntaxError, NameError, TypeError):
                continue
            context = "\n".join(lines[max(0, i - ABOVE): i + 1 + BELOW]).lower()
            if value >= 1e-7 and not any(reason in context for reason in REASONS):
                found.append((i + 1, line.strip()))
                break
    return found


def test_every_float32_tolerance_in_tests_names_its_bound() -> None:
    offenders = [f"{path.relative_to(TESTS)}:{n}: {line}" for path in sorted(TESTS.rglob("*.py"))
                 if path.name != Path(__file__).name for n, line in unexplained_tolerances(path.read_text())]
    assert not offenders, "tolerances without a bound comment:\n" + "\n".join(offenders)


def test_the_lint_flags_a_bare_tolerance_and_accepts_an_explained_one() -> None:
    bare = "x = 1\ntorch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)\n"
    assert unexplained_tolerances(bare) == [(2, "torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)")]
    explained = "# bound: 64 products, 64 eps32\n" + bare
    assert unexplained_tolerances(explained) == []
    assert unexplained_tolerances("np.testing.assert_allclose(a, b, rtol=1e-12)\n") == []  # float64-sized
    assert unexplained_tolerances("assert_close(a, b, atol=bound)\n") == []  # computed from a bound
