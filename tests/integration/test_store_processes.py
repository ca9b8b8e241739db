"""The run store shared by processes: a reader never sees a half-written epoch while a training process writes."""

import os
import subprocess
import sys
import textwrap
import time
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


# Waits until the file GO exists, then tries to take run RID; prints "won" or the refusal.
CLAIMER = """
import os, sys, time
from musicgen.errors import StoreError
from musicgen.runs import store
while not os.path.exists(sys.argv[1]):
    time.sleep(0.001)
try:
    store.claim_run(sys.argv[2])
    print("won", flush=True)
    time.sleep(30)  # stay alive: a claim by a live process holds
except StoreError as e:
    print(e, flush=True)
"""


def test_claims_started_together_leave_one_winner(home, tmp_path):
    rid = store.create_run("x", {}, "d", status="stopped")
    env = {**os.environ, "MUSICGEN_HOME": str(home), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    go = tmp_path / "go"
    procs = [
        subprocess.Popen([sys.executable, "-c", CLAIMER, str(go), rid], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    try:
        time.sleep(1.0)  # all of them waiting on the file (a late one only loses more surely)
        go.touch()
        answers = {p.pid: p.stdout.readline().strip() for p in procs}
        winners = [pid for pid, a in answers.items() if a == "won"]
        assert len(winners) == 1, answers
        assert store.get_run(rid)["pid"] == winners[0]
        for pid, a in answers.items():
            if pid != winners[0]:
                assert a.startswith(f"run {rid} is already being trained by process {winners[0]}; stop it first"), a
    finally:
        for p in procs:
            p.kill()
            p.wait()
