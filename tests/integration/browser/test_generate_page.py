"""Generate in a real browser: the playhead follows the audio over the piano-roll, and a click on the roll seeks."""

import pytest
from browser_helpers import key, open_page, settle, shot

pytestmark = pytest.mark.browser


def playhead_frame(page):
    """Return the frame of the first playhead component (the one holding canvas#roll), waiting for it."""
    page.locator("iframe").first.wait_for(timeout=90_000)
    for _ in range(100):
        for frame in page.frames:
            if frame != page.main_frame and frame.locator("canvas#roll").count():
                return frame
        page.wait_for_timeout(200)
    raise AssertionError("no playhead component on the page")


def playhead_x(frame) -> float:
    return float(frame.locator("canvas#roll").get_attribute("data-playhead-x"))


def test_the_playhead_moves_with_the_audio_and_a_click_seeks(fresh_server, page):
    open_page(page, fresh_server, "home", "musicgen")  # past the router's one rerun of a fresh server's first run
    open_page(page, fresh_server, "generate", "Generate")
    box = page.locator(f"{key('gen_steps')} input")
    box.fill("64")
    box.press("Tab")
    page.wait_for_timeout(500)
    page.locator(key("gen_go")).get_by_role("button").click()
    settle(page, timeout=90)
    frame = playhead_frame(page)
    settle(page, timeout=90)
    audio = frame.locator("audio#audio")
    assert audio.get_attribute("src").startswith("data:audio/ogg;base64,")  # no network: the audio travels inline
    frame.wait_for_function("() => document.getElementById('audio').duration > 1")
    assert playhead_x(frame) == 0

    # Muted playback needs no autoplay permission; the line follows currentTime frame by frame.
    frame.evaluate("() => { const a = document.getElementById('audio'); a.muted = true; return a.play(); }")
    frame.wait_for_function("() => parseFloat(document.getElementById('roll').dataset.playheadX) > 0", timeout=20_000)
    first = playhead_x(frame)
    frame.wait_for_function(f"() => parseFloat(document.getElementById('roll').dataset.playheadX) > {first}", timeout=20_000)
    shot(page, "generate-playhead")
    frame.evaluate("() => document.getElementById('audio').pause()")

    # A click at three quarters of the roll seeks the audio there, and the line follows.
    canvas = frame.locator("canvas#roll")
    width = canvas.bounding_box()["width"]
    canvas.click(position={"x": width * 0.75, "y": 20})
    state = frame.evaluate(
        "() => { const a = document.getElementById('audio'), c = document.getElementById('roll');"
        " return {t: a.currentTime, x: parseFloat(c.dataset.playheadX), w: c.width}; }"
    )
    steps_s = 64 * 60 / (100 * 4)  # 64 steps at the page's default 100 bpm, 4 steps per beat
    assert state["t"] == pytest.approx(0.75 * steps_s, rel=0.05)
    assert state["x"] == pytest.approx(0.75 * state["w"], rel=0.05)
