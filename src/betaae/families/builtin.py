"""The built-in families: Beta (the notebook's), Kumaraswamy, Gamma, Normal and Student's t.

Each registers itself under its name in FAMILIES (`data=beta`, `data=student_t`). No torch at import.
"""

from __future__ import annotations

import math

from betaae.core.constraints import interval, positive, real, unit_interval
from betaae.families.base import FAMILIES, ExponentialFamily, Family, Parameter


@FAMILIES.register("beta")
class Beta(ExponentialFamily):
    """Beta(alpha, beta) on (0, 1); alpha, beta ~ U(0, 5) as in the notebook."""

    parameters = (Parameter("alpha", positive, (0.0, 5.0)), Parameter("beta", positive, (0.0, 5.0)))
    support = unit_interval
    default_grid = (0.01, 0.99)

    def natural_params(self, alpha, beta):
        return alpha - 1, beta - 1

    def log_normalizer(self, alpha, beta):
        return alpha.lgamma() + beta.lgamma() - (alpha + beta).lgamma()

    def sufficient_stats(self, x):
        return x.log(), (-x).log1p()


@FAMILIES.register("kumaraswamy")
class Kumaraswamy(Family):
    """Kumaraswamy(a, b) on (0, 1): a Beta look-alike with a closed-form CDF."""

    parameters = (Parameter("a", positive, (0.5, 5.0)), Parameter("b", positive, (0.5, 5.0)))
    support = unit_interval
    default_grid = (0.01, 0.99)

    def log_density(self, x, a, b):
        return a.log() + b.log() + (a - 1) * x.log() + (b - 1) * (-(x**a)).log1p()


@FAMILIES.register("gamma")
class Gamma(ExponentialFamily):
    """Gamma(shape, rate) on (0, inf)."""

    parameters = (Parameter("shape", positive, (1.0, 5.0)), Parameter("rate", positive, (0.5, 2.0)))
    support = positive
    default_grid = (0.1, 10.0)

    def natural_params(self, shape, rate):
        return shape - 1, -rate

    def log_normalizer(self, shape, rate):
        return shape.lgamma() - shape * rate.log()

    def sufficient_stats(self, x):
        return x.log(), x


@FAMILIES.register("normal")
class Normal(ExponentialFamily):
    """Normal(mean, std) on the real line."""

    parameters = (Parameter("mean", real, (-2.0, 2.0)), Parameter("std", positive, (0.3, 2.0)))
    support = real
    default_grid = (-5.0, 5.0)

    def natural_params(self, mean, std):
        precision = std.pow(-2)
        return -0.5 * precision, mean * precision

    def log_normalizer(self, mean, std):
        return 0.5 * mean.pow(2) * std.pow(-2) + std.log() + 0.5 * math.log(2 * math.pi)

    def sufficient_stats(self, x):
        return x * x, x


@FAMILIES.register("student_t")
class StudentT(Family):
    """Student's t(df, loc, scale) on the real line: three parameters, heavy tails, a symmetric grid."""

    parameters = (
        Parameter("df", interval(0.0, math.inf), (1.0, 10.0)),
        Parameter("loc", real, (-1.0, 1.0)),
        Parameter("scale", positive, (0.5, 2.0)),
    )
    support = real
    default_grid = (-6.0, 6.0)

    def log_density(self, x, df, loc, scale):
        z = (x - loc) / scale
        log_norm = ((df + 1) / 2).lgamma() - (df / 2).lgamma() - 0.5 * (df * math.pi).log() - scale.log()
        return log_norm - (df + 1) / 2 * (z * z / df).log1p()
