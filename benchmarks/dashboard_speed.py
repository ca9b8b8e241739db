"""Dashboard responsiveness in a real browser: first render per page, live-curve lag, interactivity while training.

    .venv/bin/python benchmarks/dashboard_speed.py [--data JSB_Chorales.mat] [--epochs 12] [--repeats 3] [--cold-only]

Serves app.py with a temporary MUSICGEN_HOME (a dataset built from --data, default the team's JSB
file or small generated MIDI), drives Debian's Chromium with Playwright, and prints a Markdown table.
- first render: page load until the page's last element is drawn and no script runs (cold = first
  visit of the server, warm = median of the next visits);
- live lag: for each epoch, the time the Train page first shows "epoch N" minus the wall time of
  that epoch's validation row in the store;
- interactivity: the Compare page's render time while a training runs next to it, against idle;
- script alone: the page's Python run without a browser (AppTest), to tell server time from browser time;
- cold start (--cold-only runs only this): a deep link opened on a freshly started server (one server per
  visit), the time until the page's heading shows and until its last element is drawn, against the same for
  a one-line Streamlit script on a fresh server in the same run (what Streamlit and Chromium cost here).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import tempfile
import time
from pathlib import Path

import common  # first: it puts the repo and tools/ on sys.path
from appserver import CHROMIUM, CHROMIUM_ARGS, HEADINGS, serve

# Page -> selector of an element drawn at the end of its script.
PAGES = {
    "home": ".st-key-home_step_4",
    "data": ".st-key-data_window .js-plotly-plot",
    "train": '[data-testid="stDataFrame"]',
    "compare": ".st-key-cmp_csv_runs",
    "generate": ".st-key-gen_go",
    "listen": ".st-key-listen_new",
}
REFERENCE = 'import streamlit as st\n\nst.title("Reference")\n'  # the least a fresh server can show


def cold_start_s(browser, home: Path, path: str, heading: str, last: str, script: str = "app.py") -> tuple[float, ...]:
    """Return (seconds the server took to answer its health check, then seconds to the heading, and to the last
    element with no script running) of a deep link to `path` opened on a freshly started server (its first visit)."""
    t_start = time.perf_counter()
    with serve(home, script=script) as url:
        started = time.perf_counter() - t_start
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        tab = ctx.new_page()
        t0 = time.perf_counter()
        tab.goto(f"{url}/{path}")
        tab.get_by_role("heading", name=heading, exact=True).first.wait_for(timeout=120_000)
        t1 = time.perf_counter()
        tab.locator(last).first.wait_for(timeout=120_000)
        tab.locator('[data-testid="stStatusWidget"] button').first.wait_for(state="hidden", timeout=120_000)
        t2 = time.perf_counter()
        ctx.close()
    return started, t1 - t0, t2 - t0


def cold_table(browser, home: Path, repeats: int) -> list[tuple]:
    """Return (page, median server start s, heading s, page s, reference start s, reference page s) rows: each
    page's deep link on fresh servers."""
    script = home / "reference.py"
    script.write_text(REFERENCE)
    rows = []
    for page in PAGES:
        ref, own = [], []
        for _ in range(repeats):  # interleaved, so that the load of the moment weighs on both alike
            ref.append(cold_start_s(browser, home, "", "Reference", "h1", script=str(script)))
            own.append(cold_start_s(browser, home, page, HEADINGS[page], PAGES[page]))
        rows.append(
            (
                page,
                *(statistics.median(x[i] for x in own) for i in range(3)),
                *(statistics.median(x[i] for x in ref) for i in (0, 2)),
            )
        )
    return rows


def render_s(browser, url: str, page: str) -> float:
    """Return seconds from navigation to the page's last element with no script running."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = ctx.new_page()
    t0 = time.perf_counter()
    tab.goto(f"{url}/{page}")
    tab.locator(PAGES[page]).first.wait_for(timeout=120_000)
    tab.locator('[data-testid="stStatusWidget"] button').first.wait_for(state="hidden", timeout=120_000)
    dt = time.perf_counter() - t0
    ctx.close()
    return dt


def script_s(page: str, repeats: int) -> float:
    """Return the median seconds of the page script alone (AppTest rerun in this process, no browser)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(common.ROOT / "app.py"), default_timeout=120).run()
    at.switch_page(f"pages/{page}.py").run()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def prepare(home: Path, data: Path | None) -> None:
    """Build the dataset 'bench' and two short finished runs (so Compare and Generate have something to show)."""
    from musicgen.config import DataConfig
    from musicgen.data.datasets import build_dataset
    from musicgen.paths import data_dir
    from musicgen.runs import jobs

    if data and data.is_file():
        build_dataset([str(data)], data_dir() / "bench", None)
    else:
        import numpy as np

        from musicgen.data.midi import write_midi

        rng = np.random.default_rng(0)
        folder = home / "midi"
        for i in range(12):
            roll = np.zeros((256, 84), np.uint8)
            for s in range(0, 256, 4):
                r = int(rng.integers(36, 60))
                roll[s : s + 4, [r - 24, r - 20, r - 17]] = 1
            write_midi(roll, folder / f"p{i}.mid")
        build_dataset([str(folder)], data_dir() / "bench", DataConfig(seq_len=64, hop=32))
    for opt in ("adam", "adamw"):
        pid = jobs.start_training(
            [
                "--data",
                "bench",
                "--optimizer",
                opt,
                "--epochs",
                "3",
                "--hidden",
                "16",
                "--conv-channels",
                "8",
                "--gru-layers",
                "1",
                "--name",
                f"warm-{opt}",
            ]
        )
        while jobs.is_alive(pid):
            time.sleep(0.2)


def live_lag(browser, url: str, epochs: int) -> tuple[list[float], list[float]]:
    """Launch a training, watch the Train page; return (lags per epoch, Compare render times during training)."""
    from musicgen.runs import jobs, store

    pid = jobs.start_training(["--data", "bench", "--epochs", str(epochs), "--hidden", "64", "--name", "lag"])
    while jobs.is_alive(pid):  # open the page once the run is in the store, so that it follows this run
        runs = store.list_runs()
        if len(runs) and ((runs["name"] == "lag") & (runs["status"] == "running")).any():
            break
        time.sleep(0.1)
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = ctx.new_page()
    tab.goto(f"{url}/train")
    seen: dict[int, float] = {}
    busy: list[float] = []
    run_id = None
    while jobs.is_alive(pid):
        text = tab.locator("body").inner_text(timeout=10_000)
        now = time.time()
        m = re.search(r"lag — running, epoch (\d+)", text)
        if m:
            seen.setdefault(int(m.group(1)), now)
        time.sleep(0.05)
    # Interactivity: a second tab renders Compare while another training and this tab's live refresh go on.
    pid = jobs.start_training(["--data", "bench", "--epochs", str(epochs * 4), "--hidden", "64", "--name", "busy"])
    while jobs.is_alive(pid) and len(busy) < 3:
        busy.append(render_s(browser, url, "compare"))
    jobs.stop_pid(pid, wait_s=30)
    ctx.close()
    runs = store.list_runs()
    run_id = runs[runs["name"] == "lag"]["id"].iloc[0]
    m = store.metrics_frame([run_id])
    written = m[(m["split"] == "valid") & (m["name"] == "nll")].set_index("epoch")["wall_time"]
    # The epoch counter moves when the run row is updated, just after the metric rows: the row time is the lower bound.
    lags = [seen[e] - float(written[e]) for e in sorted(seen) if e in written.index]
    return lags, busy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data", type=Path, default=common.JSB_MAT, help="benchmark .mat or MIDI folder (default: the team's JSB file)"
    )
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--cold-only", action="store_true", help="measure only the cold start of each deep link")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="musicgen-bench-"))
    os.environ["MUSICGEN_HOME"] = str(home)
    prepare(home, args.data)
    from playwright.sync_api import sync_playwright

    if args.cold_only:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            rows = cold_table(browser, home, args.repeats)
            browser.close()
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; load average at the end {os.getloadavg()[0]:.1f}")
        print(
            "\n| deep link, fresh server | server start (s) | heading shown (s) | page drawn (s) "
            "| one-line script: server start (s) | one-line script: drawn (s) | drawn / one-line drawn |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for page, start, heading, drawn, ref_start, ref in rows:
            print(f"| /{page} | {start:.2f} | {heading:.2f} | {drawn:.2f} | {ref_start:.2f} | {ref:.2f} | {drawn / ref:.2f} |")
        return
    with serve(home, args.port) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        rows = []
        for page in PAGES:
            times = [render_s(browser, url, page) for _ in range(args.repeats + 1)]
            rows.append((page, times[0], statistics.median(times[1:]), script_s(page, args.repeats)))
        lags, busy = live_lag(browser, url, args.epochs)
        browser.close()
    idle = next(r[2] for r in rows if r[0] == "compare")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}; date {time.strftime('%Y-%m-%d')}; "
        f"load average at the end {os.getloadavg()[0]:.1f}"
    )
    print("\n| page | browser first render, cold (s) | browser first render, warm median (s) | script alone, median (s) |")
    print("| --- | --- | --- | --- |")
    for page, cold, warm, script in rows:
        print(f"| {page} | {cold:.2f} | {warm:.2f} | {script:.2f} |")
    if lags:
        print(
            f"\nlive curve lag behind the store over {len(lags)} epochs: median {statistics.median(lags):.2f} s, "
            f"max {max(lags):.2f} s (refresh every 2 s)"
        )
    if busy:
        print(f"Compare page render while training: median {statistics.median(busy):.2f} s (idle: {idle:.2f} s)")


if __name__ == "__main__":
    main()
