"""Stops that land where an exception cannot travel cleanly: inside an import or C code, or a block that holds
them back."""

import os
import signal
import time

import pytest

from betaae.cli.main import task
from betaae.core import signals


@pytest.fixture
def our_handlers():
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    signals.install()
    yield
    for signum, handler in before.items():
        signal.signal(signum, handler)


def test_a_stop_disguised_as_another_error_is_still_reported_as_the_stop(our_handlers):
    # Numpy's import, met by the stop half way, reported "cannot load module more than once" instead.
    def job(cfg):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        except signals.Terminated:
            raise ImportError("cannot load module more than once per process") from None

    with pytest.raises(signals.Terminated):
        task(job)({})


def test_an_error_without_a_stop_stays_an_error(our_handlers):
    def job(cfg):
        raise ImportError("a real one")

    with pytest.raises(ImportError, match="a real one"):
        task(job)({})


@pytest.mark.parametrize(("signum", "stop"), [(signal.SIGTERM, signals.Terminated), (signal.SIGINT, KeyboardInterrupt)])
def test_a_stop_held_back_by_deferred_reaches_the_handler_in_place_after_it(our_handlers, signum, stop):
    with pytest.raises(stop):
        with signals.deferred():
            os.kill(os.getpid(), signum)
            time.sleep(0.2)  # held: nothing is raised in here
        time.sleep(5)


def test_a_stop_held_back_while_lightning_trains_is_passed_to_lightnings_handler(our_handlers):
    received = []
    with signals.lightning_stops():
        signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))  # Lightning's, in place
        with signals.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)
        time.sleep(0.2)
    assert received == [signal.SIGTERM]  # before, it was dropped: Lightning never heard of it
