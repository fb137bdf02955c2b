"""LiveCurve in JupyterLab + Chromium: a real fastai fit, the controls, and a reload."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import LEARNER_CELL, Lab, write_notebook

pytestmark = pytest.mark.browser

WIDGET = '[data-fw-widget="curve"]'

# Records every value the widget's data-fw-source attribute takes, from the first paint on.
SOURCE_RECORDER = """
window.__fwSources = [];
new MutationObserver((records) => {
  for (const r of records) {
    const v = r.target.getAttribute && r.target.getAttribute('data-fw-source');
    if (r.attributeName === 'data-fw-source' && v) window.__fwSources.push(v);
  }
}).observe(document, { attributes: true, subtree: true, attributeFilter: ['data-fw-source'] });
"""


# The width of the visible x range, compared with `limit` by the caller.
XSPAN = (
    "([sel, limit]) => { const r = document.querySelector(sel + ' .js-plotly-plot')"
    ".layout.xaxis.range; return r && r[1] - r[0]"
)


def points(lab: Lab) -> dict[str, int]:
    raw = lab.page.get_attribute(WIDGET, "data-fw-points")
    return json.loads(raw or "{}")


def wait_points(lab: Lab, series: str, count: int, source: str = "live") -> None:
    lab.page.wait_for_function(
        """([sel, name, n, src]) => {
            const el = document.querySelector(sel);
            if (!el || el.dataset.fwSource !== src) return false;
            const p = JSON.parse(el.dataset.fwPoints || '{}');
            return p[name] === n;
        }""",
        arg=[WIDGET, series, count, source],
        timeout=60_000,
    )


def layout(lab: Lab) -> Any:
    return lab.page.evaluate(
        "(sel) => { const gd = document.querySelector(sel + ' .js-plotly-plot');"
        " return { ytype: gd.layout.yaxis.type, xrange: gd.layout.xaxis.range,"
        " xauto: gd.layout.xaxis.autorange }; }",
        WIDGET,
    )


def test_live_curve_fit_controls_and_reload(lab: Lab) -> None:
    write_notebook(
        lab.root / "curve.ipynb",
        [
            LEARNER_CELL,
            'curve = LiveCurve(title="digits MLP")\nlearn.fit_one_cycle(3, 3e-3, cbs=curve)',
            "print('FW:' + json.dumps({'n': len(curve.history), 'log_y': curve.log_y,"
            " 'smoothing': curve.smoothing}))",
        ],
    )
    lab.open("curve.ipynb")
    batches = lab.result(0)
    lab.run_cell(1)
    steps = 3 * batches

    # the chart holds every batch, the 3 validation points and the lr schedule
    wait_points(lab, "train_loss", steps)
    got = points(lab)
    assert got["lr"] == steps and got["mom"] == steps
    assert got["valid_loss"] == 3 and got["accuracy"] == 3 and got["_epoch"] == 3
    assert layout(lab)["ytype"] == "linear"

    # log-y, in the browser, and Python hears it once the kernel is idle
    lab.page.click(f"{WIDGET} .fw-logy")
    lab.page.wait_for_selector(f'{WIDGET}[data-fw-log-y="true"]')
    assert layout(lab)["ytype"] == "log"

    # smoothing slider, by keyboard like a user: from 0.60 up ten steps of 0.01
    slider = lab.page.locator(f"{WIDGET} .fw-smoothing")
    slider.focus()
    for _ in range(10):
        slider.press("ArrowRight")
    lab.page.wait_for_selector(f'{WIDGET}[data-fw-smoothing="0.7"]')

    # zoom by dragging on the plot, then "Reset view" brings the full range back
    box = lab.page.locator(f"{WIDGET} .nsewdrag").first.bounding_box()
    assert box is not None
    lab.page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
    lab.page.mouse.down()
    lab.page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5, steps=5)
    lab.page.mouse.up()
    lab.page.wait_for_function(XSPAN + " < limit; }", arg=[WIDGET, steps * 0.5])
    lab.page.click(f"{WIDGET} .fw-reset")
    lab.page.wait_for_function(XSPAN + " >= limit; }", arg=[WIDGET, steps - 1])

    state = lab.result(2)
    assert state == {"n": steps, "log_y": True, "smoothing": 0.7}
    lab.screenshot("live_curve.png")
    lab.page.locator(WIDGET).screenshot(path=str(lab.screenshot_path("live_curve_widget.png")))

    # reload: the curve comes back from the snapshot first, then exact from the kernel
    lab.save()
    lab.page.add_init_script(SOURCE_RECORDER)
    lab.page.reload()
    lab.page.wait_for_selector(WIDGET, timeout=120_000)
    wait_points(lab, "train_loss", steps)
    sources = lab.page.evaluate("() => window.__fwSources")
    assert sources[0] == "snapshot" and sources[-1] == "live"
    assert lab.page.get_attribute(WIDGET, "data-fw-log-y") == "true"
    lab.screenshot("live_curve_reloaded.png")


def test_bad_values_are_drawn_and_png_downloads(lab: Lab) -> None:
    write_notebook(
        lab.root / "bad.ipynb",
        [
            "import json\nfrom fastwidgets import LiveCurve",
            "curve = LiveCurve(title='lr=0.5')\ndisplay(curve)\n"
            "vals = [2.0, 1.5, float('nan'), 1.2, float('inf'), 1.1, float('-inf'), 1.0]\n"
            "for i, v in enumerate(vals):\n    curve.log(i, train_loss=v, lr=0.5)\n"
            "curve.log_epoch(0, valid_loss=1144188288.0)\ncurve.close()",
            "print('FW:' + json.dumps({'n': len(curve.history), 'log_y': curve.log_y}))",
        ],
    )
    errors: list[str] = []
    lab.page.on("pageerror", lambda e: errors.append(str(e)))
    lab.open("bad.ipynb")
    lab.run_cell(0)
    lab.run_cell(1)
    wait_points(lab, "train_loss", 8)

    def marks() -> Any:
        return lab.page.evaluate(
            "(sel) => document.querySelector(sel + ' .js-plotly-plot').data"
            ".filter((t) => t.name === 'non-finite').flatMap((t) => Array.from(t.hovertext))",
            WIDGET,
        )

    assert sorted(marks()) == ["-inf", "NaN", "inf"]
    # the huge validation loss is on the chart, not dropped
    huge = lab.page.evaluate(
        "(sel) => document.querySelector(sel + ' .js-plotly-plot').data"
        ".some((t) => Array.from(t.y || []).includes(1144188288))",
        WIDGET,
    )
    assert huge
    lab.page.click(f"{WIDGET} .fw-logy")
    lab.page.wait_for_selector(f'{WIDGET}[data-fw-log-y="true"]')
    assert layout(lab)["ytype"] == "log"
    assert sorted(marks()) == ["-inf", "NaN", "inf"]
    with lab.page.expect_download() as download:
        lab.page.click(f"{WIDGET} .fw-png")
    assert download.value.suggested_filename.endswith(".png")
    assert lab.result(2) == {"n": 8, "log_y": True}
    assert errors == []
