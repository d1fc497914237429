"""How many CPU threads torch uses for a run: all the cores while the machine is idle, fewer while other
processes want them.

A step of this model is a few hundred small parallel regions, and torch's OpenMP threads spin while they
wait for each other at the end of each one. Alone, that is what makes all the cores the fastest choice.
Shared, it collapses: a thread spins for a partner that another process has descheduled, and two runs of
two threads on two cores each take ten times as long. A sleeping wait policy avoids the collapse but makes
every region pay for a wake-up. So the thread count follows the load instead: a few times a second the
run compares the CPU time the whole machine used (/proc/stat) with its own, and uses one thread fewer for
each core (or part of one) that other processes are using. Changing the count changes no result: between
one thread and the number of cores, this model's kernels give bit-identical results (tests/test_threads.py
checks every count the governor can choose on the machine it runs on; on the 2-core CI machine 1, 2 and 3
threads agree and 4 do not, which is why the governor never goes above the cores).

`num_threads=N` fixes the count instead. Where /proc/stat cannot be read (not Linux), torch's default stays.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field

CHECK_EVERY_S = 0.25  # how often the load is looked at: a few times a second, cheap (one small file read)
# Other processes' use, in cores, below which the machine counts as idle: a terminal or an idle browser
# keeps a machine at a few percent, and that does not make spinning threads wait.
IDLE_BELOW = 0.25


def _busy_seconds() -> float | None:
    """CPU seconds every process on the machine has used since boot (all cores), or None if unknown."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    # user nice system idle iowait irq softirq steal ...: everything but idle and iowait is busy.
    ticks = [int(v) for v in fields[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def threads_for(others: float, most: int) -> int:
    """The thread count for a machine on which other processes use `others` cores."""
    if others < IDLE_BELOW:
        return most
    return max(1, most - math.ceil(others - IDLE_BELOW))


@dataclass
class Governor:
    """Follows the machine's load: call `update()` often; it looks at most every CHECK_EVERY_S seconds."""

    most: int
    usage: dict[int, float] = field(default_factory=dict)  # seconds spent at each thread count
    _last: tuple[float, float, float] | None = None  # (wall, machine busy, own CPU) at the last look

    def start(self) -> None:
        import torch

        busy = _busy_seconds()
        self._last = None if busy is None else (time.monotonic(), busy, time.process_time())
        torch.set_num_threads(self.most)

    def update(self) -> None:
        if self._last is None:
            return
        now = time.monotonic()
        wall, busy, own = self._last
        if now - wall < CHECK_EVERY_S:
            return
        import torch

        machine, mine = _busy_seconds(), time.process_time()
        others = max(0.0, ((machine - busy) - (mine - own)) / (now - wall))
        current = torch.get_num_threads()
        self.usage[current] = self.usage.get(current, 0.0) + now - wall
        self._last = (now, machine, mine)
        wanted = threads_for(others, self.most)
        if wanted != current:
            torch.set_num_threads(wanted)

    def describe(self) -> str:
        """How the count was set, for the summary: "2 threads" or "2 threads, 1 for 40% of the time"."""
        total = sum(self.usage.values())
        fewer = {n: s for n, s in self.usage.items() if n < self.most and s > 0}
        if not total or not fewer:
            return f"{self.most} threads"
        shares = ", ".join(f"{n} for {100 * s / total:.0f}% of the time" for n, s in sorted(fewer.items()))
        return f"{self.most} threads ({shares}: the CPU was shared)"


def thread_plan(cfg) -> tuple[int, bool]:
    """(threads, whether they follow the load): num_threads if set, else every core, adjusted to the load."""
    fixed = cfg.get("num_threads")
    if fixed:
        return int(fixed), False
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cores, _busy_seconds() is not None
