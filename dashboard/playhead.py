"""A piano-roll that follows its audio: an <audio> element and the roll on a <canvas> with a moving line.

Self-contained HTML (no CDN, no network): the audio travels as a base64 data URL, the roll as its
active cells. The line's x position (canvas pixels) is kept in the canvas's `data-playhead-x`
attribute, so a browser test can watch it move; a click on the roll seeks the audio there.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import streamlit as st
import streamlit.components.v1 as components

ROLL_HEIGHT = 160  # canvas pixels; the audio controls take ~50 more


def cells(roll, pitch_range: tuple[int, int], low: int) -> list[list[int]]:
    """Return the active cells of a roll (steps, notes) as [step, run length, row from the top] runs within `pitch_range`."""
    roll = np.asarray(roll) > 0
    top = int(pitch_range[1])
    out = []
    for j in np.flatnonzero(roll.any(axis=0)):
        pitch = low + int(j)
        if not pitch_range[0] <= pitch <= top:
            continue
        col = np.concatenate([[0], roll[:, j].astype(np.int8), [0]])
        edges = np.flatnonzero(np.diff(col))  # starts and ends of each held note
        out += [[int(a), int(b - a), top - pitch] for a, b in zip(edges[::2], edges[1::2], strict=True)]
    return out


def playhead_html(
    roll,
    audio: bytes,
    mime: str,
    seconds_per_step: float,
    low: int,
    pitch_range: tuple[int, int],
    primer_steps: int = 0,
    steps_per_beat: int | None = None,
) -> str:
    """Return the HTML document of the component: the roll on a canvas, an <audio> below, a line at audio.currentTime."""
    roll = np.asarray(roll)
    data = {
        "cells": cells(roll, pitch_range, low),
        "steps": int(roll.shape[0]),
        "rows": int(pitch_range[1] - pitch_range[0] + 1),
        "stepS": float(seconds_per_step),
        "primer": int(primer_steps),
        "beat": int(steps_per_beat or 0),
    }
    src = f"data:{mime};base64,{base64.b64encode(audio).decode()}"
    return f"""<!doctype html><html><body style="margin:0;font-family:sans-serif">
<canvas id="roll" data-playhead-x="0" data-playhead-s="0"
 style="width:100%;height:{ROLL_HEIGHT}px;cursor:pointer;display:block"></canvas>
<audio id="audio" controls preload="auto" style="width:100%;height:40px" src="{src}"></audio>
<script>
const d = {json.dumps(data)};
const canvas = document.getElementById("roll"), audio = document.getElementById("audio");
const ctx = canvas.getContext("2d");
let lastX = -1;
function size() {{
  canvas.width = Math.max(100, canvas.clientWidth);
  canvas.height = {ROLL_HEIGHT};
  lastX = -1;
}}
function draw() {{
  const w = canvas.width, h = canvas.height, cw = w / d.steps, rh = h / d.rows;
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
  if (d.primer) {{ ctx.fillStyle = "rgba(255,165,0,0.2)"; ctx.fillRect(0, 0, d.primer * cw, h); }}
  if (d.beat) {{
    ctx.fillStyle = "#eee";
    const every = d.beat * Math.max(1, Math.ceil(8 / (cw * d.beat)));  // a grid line at least 8 px apart
    for (let s = 0; s < d.steps; s += every) ctx.fillRect(s * cw, 0, 1, h);
  }}
  ctx.fillStyle = "#222";
  for (const [s, n, r] of d.cells) ctx.fillRect(s * cw, r * rh, Math.max(n * cw, 1), Math.max(rh, 1));
  const x = Math.min(w, audio.currentTime / d.stepS * cw);
  ctx.fillStyle = "#e4002b"; ctx.fillRect(x - 1, 0, 2, h);
  canvas.dataset.playheadX = x.toFixed(1);
  canvas.dataset.playheadS = audio.currentTime.toFixed(3);
  lastX = x;
}}
function tick() {{
  const x = Math.min(canvas.width, audio.currentTime / d.stepS * (canvas.width / d.steps));
  if (x !== lastX) draw();
  requestAnimationFrame(tick);
}}
canvas.addEventListener("click", (e) => {{
  const r = canvas.getBoundingClientRect();
  audio.currentTime = (e.clientX - r.left) / r.width * d.steps * d.stepS;
  draw();
}});
window.addEventListener("resize", () => {{ size(); draw(); }});
size(); draw(); requestAnimationFrame(tick);
</script></body></html>"""


def playhead(roll, audio: bytes, mime: str, seconds_per_step: float, low: int, pitch_range: tuple[int, int], **kwargs) -> None:
    """Draw the roll with its audio player and a playhead line that follows it (arguments as `playhead_html`)."""
    html = playhead_html(roll, audio, mime, seconds_per_step, low, pitch_range, **kwargs)
    if hasattr(st, "iframe"):  # newer Streamlit: components.v1.html is deprecated in favour of st.iframe (an HTML string)
        st.iframe(html, height=ROLL_HEIGHT + 50)
    else:
        components.html(html, height=ROLL_HEIGHT + 50)
