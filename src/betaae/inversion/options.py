"""The rules of inversion's options, loading no torch: the built-in methods' options, the starting points and
the noise level. The methods declare these as their own, and invert.py checks them before torch loads."""

from __future__ import annotations

import math

from betaae.core.constraints import Constraint, integer, interval, positive

INITS = ("encoder", "zeros")
# Each built-in method's options and their rules (a user's own method declares its own when it registers).
METHOD_OPTIONS: dict[str, dict[str, Constraint]] = {
    "nelder-mead": {"max_iter": integer(1), "xatol": positive, "fatol": positive},
    "adam": {"steps": integer(1), "lr": positive},
}
# A noise sd below 1e-12 of a log-pdf value is below what float64 residuals resolve: it would act as zero
# and give intervals of width zero.
NOISE_SD = interval(1e-12, math.inf, low_open=False, text="must be a finite number >= 1e-12")
