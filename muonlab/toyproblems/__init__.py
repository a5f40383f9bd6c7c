"""Toy problems (SPEC 2): AWB-T quadratic, outlier injection, river valleys, digits MLP.

Problems are plain objects that know nothing about optimizers; each has a seed-batched
variant (leading seed axis S) for vectorized seeds (SPEC 8).
"""

from muonlab.toyproblems.awbt import AWBT, AWBTBatch
from muonlab.toyproblems.digits import DigitsMLP, DigitsMLPBatch
from muonlab.toyproblems.injection import InjectionEvent, OutlierInjection, OutlierInjectionBatch
from muonlab.toyproblems.river_valley import RiverValley, RiverValleyBatch

__all__ = [
    "AWBT", "AWBTBatch",
    "DigitsMLP", "DigitsMLPBatch",
    "InjectionEvent", "OutlierInjection", "OutlierInjectionBatch",
    "RiverValley", "RiverValleyBatch",
]
