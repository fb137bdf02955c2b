"""SGD playground in JupyterLab + Chromium: the lr slider, divergence, the start point
dragged on the contour, a refused value and the step slider, each checked against what
reached Python."""

from __future__ import annotations

import math
from typing import Any

import pytest

from .conftest import Lab, write_notebook

pytestmark = pytest.mark.browser

WIDGET = ".fw-sgd"

WIDGET_CELL = "import json\nfrom fastwidgets.sgd import SGDPlayground\np = SGDPlayground()\np"

# What Python holds: the settings, the message, and every step of the main run (run 0).
# The widget recomputes on the kernel's comm subshell, a thread of its own, so a read can
# fall between a setting and its trajectory: the checks wait for a consistent state.
STATE_CELL = """
t = p.trajectory
starts = t.index[t.step == 0].tolist() + [len(t)]
main = t.iloc[starts[0] : starts[1]]
print('FW:' + json.dumps({
    'lr': p.lr, 'start': p.start, 'batch_size': p.batch_size, 'message': p.message,
    'stability': p.stability_limit, 'runs': p.runs, 'run_lr': float(main.lr.iloc[0]),
    'a1': main.a1.tolist(), 'a2': main.a2.tolist(),
}))
"""

# What the canvas over the contour last drew (its scene): run 0's trajectory, the start
# handle, the step shown, and the axes' ranges from plotly.
DRAWN = """(sel) => {
    const gd = document.querySelector(sel + ' .fw-contour');
    const s = document.querySelector(sel + ' .fw-traj').fwScene;
    const p = s.paths[0];
    return { a1: Array.from(p.a1), a2: Array.from(p.a2), start: s.start,
             dot: [p.a1[s.current[0]], p.a2[s.current[0]]],
             xrange: gd._fullLayout.xaxis.range, yrange: gd._fullLayout.yaxis.range };
}"""

# The canvas' pixels (RGBA) at data points: where plotly's axes put them, read back
# through the canvas' own size on the page. Null for a point off the canvas or, with
# `covered`, within 10 px of what the scene draws over the paths (the minimum's star,
# the start handle and the steps shown; read here, as a playing animation moves them).
PIXELS = """([sel, points, covered]) => {
    const gd = document.querySelector(sel + ' .fw-contour');
    const c = document.querySelector(sel + ' .fw-traj');
    const plot = gd.querySelector('.nsewdrag').getBoundingClientRect();
    const r = c.getBoundingClientRect();
    const fl = gd._fullLayout, ctx = c.getContext('2d');
    const at = ([a1, a2]) => [plot.left + fl.xaxis.l2p(a1) - r.left,
                              plot.top + fl.yaxis.l2p(a2) - r.top];
    const s = c.fwScene;
    const steps = s.paths.map((p, k) => [p.a1[s.current[k]], p.a2[s.current[k]]]);
    const over = covered ? [s.minimum, s.start, ...steps] : [];
    const avoid = over.filter((p) => p).map(at);
    return points.map((p) => {
        const [x, y] = at(p);
        if (x < 0 || y < 0 || x >= r.width || y >= r.height) return null;
        if (avoid.some(([u, v]) => Math.hypot(u - x, v - y) < 10)) return null;
        const k = c.width / r.width;
        return Array.from(ctx.getImageData(Math.floor(x * k), Math.floor(y * k), 1, 1).data);
    });
}"""
RUN0_RGBA = [0x1F, 0x77, 0xB4, 255]  # PALETTE[0]


def is_run0(px: list[int] | None) -> bool:
    """Run 0's colour, opaque (overlapping anti-aliased dots round a channel by a few)."""
    return px is not None and all(abs(a - b) <= 8 for a, b in zip(px, RUN0_RGBA, strict=True))


# Data <-> page pixels on the contour, from plotly's own axes (the plot area is its
# .nsewdrag layer).
TO_PIXEL = """([sel, a1, a2]) => {
    const gd = document.querySelector(sel + ' .fw-contour');
    const r = gd.querySelector('.nsewdrag').getBoundingClientRect();
    const fl = gd._fullLayout;
    return [r.left + fl.xaxis.l2p(a1), r.top + fl.yaxis.l2p(a2)];
}"""
TO_DATA = """([sel, px, py]) => {
    const gd = document.querySelector(sel + ' .fw-contour');
    const r = gd.querySelector('.nsewdrag').getBoundingClientRect();
    const fl = gd._fullLayout;
    return { a: [fl.xaxis.p2l(px - r.left), fl.yaxis.p2l(py - r.top)],
             // one pixel in data units, along each axis
             px: [Math.abs(fl.xaxis.p2l(1) - fl.xaxis.p2l(0)),
                  Math.abs(fl.yaxis.p2l(1) - fl.yaxis.p2l(0))],
             box: [r.left, r.top, r.width, r.height] };
}"""


def dataset(lab: Lab) -> dict[str, str]:
    got: dict[str, str] = lab.page.evaluate(
        "(sel) => ({ ...document.querySelector(sel).dataset })", WIDGET
    )
    return got


def drawn(lab: Lab) -> int:
    return int(dataset(lab).get("fwDrawn", "0"))


def wait_drawn_after(lab: Lab, count: int) -> None:
    """Until a redraw with new data happened after ``count`` redraws."""
    lab.page.wait_for_function(
        "([sel, n]) => Number(document.querySelector(sel).dataset.fwDrawn || 0) > n",
        arg=[WIDGET, count],
        timeout=20_000,
    )


def wait_trajectory(lab: Lab, state: dict[str, Any], min_seen: int = 3) -> dict[str, Any]:
    """Until the contour shows Python's run 0 trajectory; returns what is drawn, after
    checking that the canvas has run 0's colour at each of its steps in view (at least
    ``min_seen`` of them)."""
    lab.page.wait_for_function(
        """([sel, a1, a2]) => {
            const c = document.querySelector(sel + ' .fw-traj');
            const p = c && c.fwScene && c.fwScene.paths[0];
            if (!p || p.a1.length !== a1.length) return false;
            for (let i = 0; i < a1.length; i++)
                if (Math.abs(p.a1[i] - a1[i]) > 1e-9 || Math.abs(p.a2[i] - a2[i]) > 1e-9)
                    return false;
            return true;
        }""",
        arg=[WIDGET, state["a1"], state["a2"]],
        timeout=20_000,
    )
    got: dict[str, Any] = lab.page.evaluate(DRAWN, WIDGET)
    points = list(zip(state["a1"], state["a2"], strict=True))
    pixels = lab.page.evaluate(PIXELS, [WIDGET, points, True])
    seen = [px for px in pixels if px is not None]
    assert len(seen) >= min_seen, pixels
    wrong = [(k, px) for k, px in enumerate(pixels) if px is not None and not is_run0(px)]
    assert not wrong, wrong
    return got


def settle(lab: Lab, check: Any, tries: int = 40) -> dict[str, Any]:
    """Python's state once ``check(state)`` holds and its trajectory is of its settings
    (the last send may still be on its way, or its recompute under way)."""
    for _ in range(tries):
        state: dict[str, Any] = lab.result(1)
        consistent = (
            state["run_lr"] == state["lr"] == state["runs"][0]["lr"]
            and abs(state["a1"][0] - state["start"][0]) < 1e-6  # torch works in float32
            and abs(state["a2"][0] - state["start"][1]) < 1e-6
        )
        if consistent and check(state):
            return state
        lab.page.wait_for_timeout(100)
    raise AssertionError(f"Python's state never settled: {state}")


def test_sgd_playground_lr_divergence_drag_refusal_and_scrub(lab: Lab) -> None:
    write_notebook(
        lab.root / "sgd.ipynb",
        [WIDGET_CELL, STATE_CELL],
    )
    lab.open("sgd.ipynb")
    lab.run_cell(0)
    lab.page.wait_for_function(
        "(sel) => Number(document.querySelector(sel)?.dataset.fwDrawn || 0) >= 1",
        arg=WIDGET,
        timeout=60_000,
    )
    before = lab.result(1)
    assert before["lr"] == 0.1 and before["message"] == "" and len(before["a1"]) == 101
    shown = wait_trajectory(lab, before)
    assert shown["start"] == [-1.0, 1.0]
    ds = dataset(lab)
    assert ds["fwRuns"] == "1" and ds["fwPoints"] == "101"
    assert 0.9 < before["stability"] < 1.1  # the lesson's data: about 1.0

    # -- the lr slider, moved with the keyboard: 10 steps of 0.01 on log10(lr) -------------
    n0 = drawn(lab)
    lr_slider = lab.page.locator(f"{WIDGET} .fw-lr")
    assert float(lr_slider.input_value()) == pytest.approx(-1.0)
    lr_slider.focus()
    for _ in range(10):
        lab.page.keyboard.press("ArrowRight")
    assert float(lr_slider.input_value()) == pytest.approx(-0.9)
    wait_drawn_after(lab, n0)
    # the slider sends 10**value to 3 significant digits
    moved = settle(lab, lambda s: s["lr"] == float(f"{10**-0.9:.3g}"))
    # a new trajectory: larger steps from the same start, and it is the one drawn
    assert moved["a1"][0] == before["a1"][0] and moved["a2"][0] == before["a2"][0]
    assert moved["a1"][1:4] != before["a1"][1:4]
    assert abs(moved["a1"][1] - moved["a1"][0]) > abs(before["a1"][1] - before["a1"][0])
    wait_trajectory(lab, moved)
    assert lab.page.input_value(f"{WIDGET} .fw-lr-value") == "0.126"

    # -- lr 1.5, typed: above the stability limit, the run diverges -------------------------
    n1 = drawn(lab)
    lr_text = lab.page.locator(f"{WIDGET} .fw-lr-value")
    lr_text.fill("1.5")
    lr_text.press("Enter")
    wait_drawn_after(lab, n1)
    diverged = settle(lab, lambda s: s["lr"] == 1.5 and s["message"] != "")
    k = diverged["runs"][0]["diverged_at"]
    assert isinstance(k, int) and 0 < k <= 100
    assert diverged["message"].startswith(f"diverged at step {k} (lr above stability limit ≈ ")
    lab.page.wait_for_function(
        "([sel, text]) => document.querySelector(sel + ' .fw-message').textContent === text",
        arg=[WIDGET, diverged["message"]],
        timeout=10_000,
    )
    assert lab.page.locator(f"{WIDGET} .fw-message").is_visible()
    # it leaves the chart within a few steps of the start (under the handle): few to see
    shown = wait_trajectory(lab, diverged, min_seen=0)
    # only finite values reach the chart, and the run leaves it
    assert all(math.isfinite(v) for v in shown["a1"] + shown["a2"])
    last = (shown["a1"][-1], shown["a2"][-1])
    x0, x1 = sorted(shown["xrange"])
    y0, y1 = sorted(shown["yrange"])
    assert not (x0 <= last[0] <= x1 and y0 <= last[1] <= y1)
    assert float(lr_slider.input_value()) == pytest.approx(0.18)  # log10(1.5), on the 0.01 grid
    lab.screenshot("sgd_diverged.png")

    # -- an invalid batch size is refused in the browser; Python keeps its state --------------
    batch = lab.page.locator(f"{WIDGET} .fw-batch")
    batch.fill("500")
    batch.press("Enter")
    message = lab.page.locator(f"{WIDGET} .fw-message")
    lab.page.wait_for_function(
        "(sel) => document.querySelector(sel + ' .fw-message').textContent.startsWith("
        "'batch size must be')",
        arg=WIDGET,
        timeout=10_000,
    )
    assert "n = 100" in (message.text_content() or "")
    assert "fw-invalid" in (batch.get_attribute("class") or "")
    kept = lab.result(1)
    assert kept == diverged

    # "full" is valid: the refusal goes away
    batch.fill("full")
    batch.press("Enter")
    lab.page.wait_for_function(
        "(sel) => document.querySelector(sel + ' .fw-message').textContent !== ''"
        " && !document.querySelector(sel + ' .fw-message').textContent.startsWith('batch')",
        arg=WIDGET,
        timeout=10_000,
    )
    assert "fw-invalid" not in (batch.get_attribute("class") or "")

    # back to a stable lr for the drag (a diverged run stretches the contour)
    n2 = drawn(lab)
    lr_text.fill("0.1")
    lr_text.press("Enter")
    wait_drawn_after(lab, n2)
    stable = settle(lab, lambda s: s["lr"] == 0.1 and s["message"] == "")
    assert stable["a1"] == before["a1"]
    assert not message.is_visible()
    shown = wait_trajectory(lab, stable)

    # -- drag the start point on the contour ------------------------------------------------
    n3 = drawn(lab)
    sx, sy = lab.page.evaluate(TO_PIXEL, [WIDGET, *shown["start"]])
    probe = lab.page.evaluate(TO_DATA, [WIDGET, sx, sy])
    left, top, width, height = probe["box"]
    tx, ty = left + 0.75 * width, top + 0.2 * height  # up and to the right of (-1, 1)
    target = lab.page.evaluate(TO_DATA, [WIDGET, tx, ty])
    lab.page.mouse.move(sx, sy)
    lab.page.mouse.down()
    lab.page.mouse.move((sx + tx) / 2, (sy + ty) / 2, steps=5)
    lab.page.mouse.move(tx, ty, steps=5)
    lab.page.mouse.up()
    wait_drawn_after(lab, n3)
    # the handle is drawn where the browser put the start; Python gets there too
    dragged = settle(lab, lambda s: s["start"] == lab.page.evaluate(DRAWN, WIDGET)["start"])
    assert dragged["start"] != [-1.0, 1.0]
    # within a pixel's worth of the target (plus the snapping to span/500)
    for i in (0, 1):
        assert abs(dragged["start"][i] - target["a"][i]) <= 1.5 * target["px"][i] + 0.006
    shown = wait_trajectory(lab, dragged)
    assert shown["start"] == dragged["start"]
    lab.screenshot("sgd_dragged.png")

    # -- the step slider scrubs every view ------------------------------------------------
    step = lab.page.locator(f"{WIDGET} .fw-step-slider")
    step.focus()
    lab.page.keyboard.press("Home")
    for _ in range(3):
        lab.page.keyboard.press("ArrowRight")
    lab.page.wait_for_function(
        "(sel) => document.querySelector(sel).dataset.fwStep === '3'", arg=WIDGET
    )
    at3 = lab.page.evaluate(
        """(sel) => {
            const s = document.querySelector(sel + ' .fw-scatter').layout.shapes[0];
            return { line: [s.x0, s.y0, s.x1, s.y1],
                     label: document.querySelector(sel + ' .fw-step-label').textContent };
        }""",
        WIDGET,
    )
    a1, a2 = dragged["a1"][3], dragged["a2"][3]
    assert lab.page.evaluate(DRAWN, WIDGET)["dot"] == [a1, a2]
    # the step's dot is drawn there: its centre has run 0's colour
    assert is_run0(lab.page.evaluate(PIXELS, [WIDGET, [[a1, a2]], False])[0])
    lx0, ly0, lx1, ly1 = at3["line"]
    assert ly0 == pytest.approx(a1 * lx0 + a2) and ly1 == pytest.approx(a1 * lx1 + a2)
    assert at3["label"] == "step 3 / 100"

    # the step button goes one on; play runs in the browser alone, pause stops it
    lab.page.click(f"{WIDGET} .fw-step")
    lab.page.wait_for_function(
        "(sel) => document.querySelector(sel).dataset.fwStep === '4'", arg=WIDGET
    )
    lab.page.click(f"{WIDGET} .fw-play")
    lab.page.wait_for_function(
        "(sel) => { const d = document.querySelector(sel).dataset;"
        " return d.fwPlaying === 'true' && Number(d.fwStep) > 4; }",
        arg=WIDGET,
    )
    lab.page.click(f"{WIDGET} .fw-pause")
    lab.page.wait_for_function(
        "(sel) => document.querySelector(sel).dataset.fwPlaying === 'false'", arg=WIDGET
    )

    # -- hovering a step on the contour shows it everywhere, and names it ---------------------
    a1, a2 = dragged["a1"][5], dragged["a2"][5]
    hx, hy = lab.page.evaluate(TO_PIXEL, [WIDGET, a1, a2])
    lab.page.mouse.move(hx, hy)
    lab.page.wait_for_function(
        "(sel) => document.querySelector(sel).dataset.fwStep === '5'", arg=WIDGET
    )
    tip = lab.page.locator(f"{WIDGET} .fw-tip")
    assert tip.is_visible()
    assert tip.text_content() == f"SGD lr=0.1 · step 5 · a = ({a1:.3f}, {a2:.3f})"
    assert lab.page.evaluate(DRAWN, WIDGET)["dot"] == [a1, a2]
    assert lab.page.input_value(f"{WIDGET} .fw-step-slider") == "5"
    # the mouse leaves: the label goes, the step stays
    lab.page.mouse.move(5, 5)
    lab.page.wait_for_function(
        "(sel) => document.querySelector(sel + ' .fw-tip').hidden", arg=WIDGET
    )
    assert dataset(lab)["fwStep"] == "5"
