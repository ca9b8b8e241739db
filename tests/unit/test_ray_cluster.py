"""The Ray connection keeps this process's signal handlers: the trainer's SIGTERM (a clean stop) survives ray.init."""

import signal

from musicgen.runs.ray_cluster import _own_signal_handlers


def test_handlers_set_inside_the_block_are_replaced_by_the_ones_from_before():
    def ours(signum, frame):
        pass

    before = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, ours)
    try:
        with _own_signal_handlers():
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # what ray.init does with its own handler
        assert signal.getsignal(signal.SIGTERM) is ours
    finally:
        signal.signal(signal.SIGTERM, before)
