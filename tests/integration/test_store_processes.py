"""The run store shared by processes: a reader never sees a half-written epoch while a training process writes."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from musicgen.runs import store


def test_writer_and_reader_at_once(home):
    rid = store.create_run("x", {}, "d", status="running")
    writer = textwrap.dedent(f"""
        from musicgen.runs import store
        for epoch in range(1, 201):
            store.log_metrics({rid!r}, epoch, "train", {{"loss": 1.0 / epoch}})
            store.update_run({rid!r}, epochs_done=epoch)
    """)
    env = {**os.environ, "MUSICGEN_HOME": str(home), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, "-c", writer], env=env)
    seen = []
    while proc.poll() is None:
        done = int(store.list_runs().iloc[0]["epochs_done"])
        df = store.metrics_frame([rid])
        assert len(df) >= done  # metrics are written before the epoch count: a reader never sees fewer
        seen.append(len(df))
    assert proc.wait() == 0
    assert len(store.metrics_frame([rid])) == 200
    assert store.get_run(rid)["epochs_done"] == 200
    assert len(seen) > 1
