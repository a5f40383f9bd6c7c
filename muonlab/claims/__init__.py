"""Paper claims as executable, statistically tested verdicts (SPEC 11; docs/claims.md).

``claims/*.toml`` (:mod:`.schema`) name a study, a comparison and a test; :mod:`.values`
reads the per-seed numbers from the study directory, :mod:`.verdict` turns paired
statistics into ``supported`` / ``not supported`` / ``inconclusive`` with a Holm
adjustment over the set, :mod:`.report` writes claims.md / claims.csv / report.html.
"""

from .evaluate import ClaimResult, Evidence, evaluate_cost_claim, evaluate_study_claim, judge
from .schema import KINDS, VERDICTS, Claim, ClaimError, load_claim, load_claims, parse_claim
from .verdict import Test, directional_test, equivalence_test, noninferiority_test

__all__ = [
    "KINDS",
    "VERDICTS",
    "Claim",
    "ClaimError",
    "ClaimResult",
    "Evidence",
    "Test",
    "directional_test",
    "equivalence_test",
    "evaluate_cost_claim",
    "evaluate_study_claim",
    "judge",
    "load_claim",
    "load_claims",
    "noninferiority_test",
    "parse_claim",
]
