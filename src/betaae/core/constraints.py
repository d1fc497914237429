"""What a value may be: each constraint checks a plain value and says in words what is allowed.

Families declare their parameters with these, models their hyperparameters, inversion methods their
options; the config checks turn a failed check into one line naming the option, its value and the rule.
Nothing here imports torch, so a config is checked before any heavy import.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite int or float (bools are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _fmt(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


@dataclass(frozen=True)
class Constraint:
    """Base: `check(value)` says whether value is allowed, `text` says what is."""

    text: str = "any value"

    def check(self, value: Any) -> bool:
        return True

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Interval(Constraint):
    """A finite number between low and high; each end open or closed, either end may be infinite."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = True
    high_open: bool = True
    text: str = ""

    def __post_init__(self) -> None:
        if not self.text:
            if math.isinf(self.low) and math.isinf(self.high):
                words = "a finite number"
            elif math.isinf(self.high):
                words = f"a finite number {'>' if self.low_open else '>='} {_fmt(self.low)}"
            elif math.isinf(self.low):
                words = f"a finite number {'<' if self.high_open else '<='} {_fmt(self.high)}"
            else:
                words = f"a number in {self.notation}"
            object.__setattr__(self, "text", f"must be {words}")

    def check(self, value: Any) -> bool:
        if not is_number(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def contains_range(self, low: float, high: float) -> bool:
        """Whether every value drawn from (low, high] is allowed: low itself is never drawn, so it may
        sit on the bound whether or not the bound is open."""
        return is_number(low) and low >= self.low and self.check(high)

    @property
    def notation(self) -> str:
        """The interval written out, e.g. (0, 1) or [0, inf)."""
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"{left}{_fmt(self.low)}, {_fmt(self.high)}{right}"

    def interior(self, low: float, high: float, margin: float = 1e-3) -> tuple[float, float]:
        """[low, high] pulled strictly inside the interval, so that a search never touches an open end."""
        return max(low, self.low + margin), min(high, self.high - margin)

    def from_unconstrained(self, free):
        """Map any real tensor onto the interval (as torch.distributions.transform_to does)."""
        if math.isfinite(self.low) and math.isfinite(self.high):
            return self.low + (self.high - self.low) * free.sigmoid()
        if math.isfinite(self.low):
            return self.low + free.exp()
        if math.isfinite(self.high):
            return self.high - free.exp()
        return free

    def to_unconstrained(self, value):
        """The inverse of from_unconstrained, for values strictly inside the interval."""
        if math.isfinite(self.low) and math.isfinite(self.high):
            return ((value - self.low) / (self.high - self.low)).logit()
        if math.isfinite(self.low):
            return (value - self.low).log()
        if math.isfinite(self.high):
            return (self.high - value).log()
        return value

    def range_text(self) -> str:
        """What a [low, high] range of this constraint must satisfy, in words."""
        floor = f"{_fmt(self.low)} <= " if math.isfinite(self.low) else ""
        ceiling = f" {'<' if self.high_open else '<='} {_fmt(self.high)}" if math.isfinite(self.high) else ""
        return f"must be a pair [low, high] of finite numbers with {floor}low < high{ceiling}"


@dataclass(frozen=True)
class Integer(Constraint):
    minimum: int = 0
    maximum: int | None = None
    text: str = ""

    def __post_init__(self) -> None:
        if not self.text:
            upper = f" and <= {self.maximum}" if self.maximum is not None else ""
            object.__setattr__(self, "text", f"must be an integer >= {self.minimum}{upper}")

    def check(self, value: Any) -> bool:
        return is_int(value) and value >= self.minimum and (self.maximum is None or value <= self.maximum)


@dataclass(frozen=True)
class OneOf(Constraint):
    choices: tuple = ()
    text: str = ""

    def __post_init__(self) -> None:
        if not self.text:
            object.__setattr__(self, "text", f"must be one of {', '.join(map(str, self.choices))}")

    def check(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.choices


@dataclass(frozen=True)
class Boolean(Constraint):
    text: str = "must be true or false"

    def check(self, value: Any) -> bool:
        return isinstance(value, bool)


@dataclass(frozen=True)
class IntList(Constraint):
    """A list of integers, each >= minimum (a bare integer counts as a list of one)."""

    minimum: int = 1
    text: str = ""

    def __post_init__(self) -> None:
        if not self.text:
            object.__setattr__(self, "text", f"must be a list of integers >= {self.minimum}, e.g. [128] or [256,128]")

    def check(self, value: Any) -> bool:
        values = [value] if is_int(value) else value
        return isinstance(values, (list, tuple)) and all(is_int(v) and v >= self.minimum for v in values)


@dataclass(frozen=True)
class NumberPair(Constraint):
    """Two numbers, each in [low, high) (Adam's betas)."""

    low: float = 0.0
    high: float = 1.0
    text: str = ""

    def __post_init__(self) -> None:
        if not self.text:
            object.__setattr__(
                self, "text", f"must be a pair [a, b] of numbers in [{_fmt(self.low)}, {_fmt(self.high)})"
            )

    def check(self, value: Any) -> bool:
        return (
            isinstance(value, (list, tuple))
            and len(value) == 2
            and all(is_number(v) and self.low <= v < self.high for v in value)
        )


def number_pair(low: float, high: float) -> NumberPair:
    return NumberPair(low=low, high=high)


def interval(low: float, high: float, low_open: bool = True, high_open: bool = True, text: str = "") -> Interval:
    return Interval(low=low, high=high, low_open=low_open, high_open=high_open, text=text)


def integer(minimum: int, maximum: int | None = None) -> Integer:
    return Integer(minimum=minimum, maximum=maximum)


def one_of(choices: Iterable[str]) -> OneOf:
    return OneOf(choices=tuple(choices))


real = interval(-math.inf, math.inf)
positive = interval(0.0, math.inf)
nonnegative = interval(0.0, math.inf, low_open=False)
unit_interval = interval(0.0, 1.0)
boolean = Boolean()
int_list = IntList()
