"""The thread governor (betaae.learner.threads): the count follows the machine's load, and changing it
changes no result."""

import pytest
import torch

from betaae.learner import threads
from betaae.models import AutoEncoder


def train_steps(num_threads: int) -> list[torch.Tensor]:
    """A few Adam steps of a small autoencoder at a fixed thread count; its weights afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        torch.manual_seed(0)
        model = AutoEncoder(num_points=100, hidden=[256, 128])
        optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
        curves = torch.randn(512, 100)
        for batch in curves.split(128):
            optimizer.zero_grad()
            model.loss_terms(batch)["loss"].mean().backward()
            optimizer.step()
        return [p.detach().clone() for p in model.parameters()]
    finally:
        torch.set_num_threads(before)


def test_results_are_bit_identical_at_every_thread_count_the_governor_uses():
    """The governor moves between 1 thread and the number of cores (2 on the CI machine); an interrupted and
    resumed run is bit-identical to an uninterrupted one only because these counts agree exactly."""
    cores = threads.thread_plan({})[0]
    one = train_steps(1)
    for count in range(2, cores + 1):
        assert all(torch.equal(a, b) for a, b in zip(one, train_steps(count))), count


@pytest.mark.parametrize(
    ("others", "most", "expected"), [(0.0, 2, 2), (0.2, 2, 2), (0.6, 2, 1), (1.0, 2, 1), (3.0, 8, 5), (9.0, 4, 1)]
)
def test_one_thread_fewer_for_each_core_other_processes_use(others, most, expected):
    assert threads.threads_for(others, most) == expected


def test_the_count_follows_a_synthetic_load(monkeypatch):
    """A fake clock and a fake /proc/stat: other processes take a core for a while, then leave."""
    clock = {"wall": 0.0, "machine": 0.0, "own": 0.0}
    monkeypatch.setattr(threads, "_busy_seconds", lambda: clock["machine"])
    monkeypatch.setattr(threads.time, "monotonic", lambda: clock["wall"])
    monkeypatch.setattr(threads.time, "process_time", lambda: clock["own"])
    before = torch.get_num_threads()
    governor = threads.Governor(most=2)
    seen = []
    try:
        governor.start()
        for others in [0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0]:
            clock["wall"] += 0.5
            clock["own"] += 0.5 * torch.get_num_threads()
            clock["machine"] += 0.5 * (torch.get_num_threads() + others)
            governor.update()
            seen.append(torch.get_num_threads())
    finally:
        torch.set_num_threads(before)
    assert seen == [2, 2, 1, 1, 1, 2, 2]
    assert "1 for 43% of the time" in governor.describe()


def test_it_looks_at_most_every_check_interval(monkeypatch):
    calls = []
    monkeypatch.setattr(threads, "_busy_seconds", lambda: calls.append(1) or 0.0)
    governor = threads.Governor(most=2)
    before = torch.get_num_threads()
    try:
        governor.start()
        for _ in range(1000):
            governor.update()
    finally:
        torch.set_num_threads(before)
    assert len(calls) <= 2  # the start, and at most one look within the same quarter second
