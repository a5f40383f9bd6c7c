"""Toy problems (SPEC 2): AWB-T quadratic, outlier injection, river valleys, digits MLP.

Problems are plain objects that know nothing about optimizers; each has a seed-batched
variant (leading seed axis S) for vectorized seeds (SPEC 8), and one settings schema
(``*Settings``, :mod:`muonlab.schema`) that its constructor, study validation and
``muonlab list`` read.
"""

from muonlab.toyproblems.awbt import AWBT, AWBTBatch, AWBTSettings
from muonlab.toyproblems.digits import DigitsMLP, DigitsMLPBatch, DigitsSettings
from muonlab.toyproblems.injection import InjectionEvent, InjectionSettings, OutlierInjection, OutlierInjectionBatch
from muonlab.toyproblems.river_valley import RiverValley, RiverValleyBatch, RiverValleySettings

__all__ = [
    "AWBT", "AWBTBatch", "AWBTSettings",
    "DigitsMLP", "DigitsMLPBatch", "DigitsSettings",
    "InjectionEvent", "InjectionSettings", "OutlierInjection", "OutlierInjectionBatch",
    "RiverValley", "RiverValleyBatch", "RiverValleySettings",
]
