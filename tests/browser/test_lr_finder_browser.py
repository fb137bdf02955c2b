"""LR finder in JupyterLab + Chromium: drawn live, a click picks the lr Python sees."""

from __future__ import annotations

import math

import pytest

from .conftest import LEARNER_CELL, Lab, write_notebook

pytestmark = pytest.mark.browser

WIDGET = '[data-fw-widget="lr_finder"]'


def lr_at(lab: Lab, px: float) -> float:
    """The learning rate under page x-coordinate ``px``, read from plotly's own x axis."""
    lr: float = lab.page.evaluate(
        """([sel, px]) => {
            const gd = document.querySelector(sel + ' .js-plotly-plot');
            const r = gd.querySelector('.nsewdrag').getBoundingClientRect();
            return Math.pow(10, gd._fullLayout.xaxis.p2l(px - r.left));
        }""",
        [WIDGET, px],
    )
    return lr


def test_click_picks_the_lr_python_sees_and_reload_keeps_the_chart(lab: Lab) -> None:
    write_notebook(
        lab.root / "lrf.ipynb",
        [
            LEARNER_CELL,
            "from fastwidgets import lr_find\nfinder = lr_find(learn, num_it=60)",
            "print('FW:' + json.dumps({'lr': finder.lr, 'picked': finder.picked_lr,"
            " 'valley': finder.suggestions.valley, 'n': len(finder.lrs)}))",
        ],
    )
    lab.open("lrf.ipynb")
    lab.run_cell(0)
    lab.run_cell(1)
    lab.page.wait_for_function(
        "(sel) => { const el = document.querySelector(sel);"
        " const p = el && JSON.parse(el.dataset.fwPoints || '{}');"
        " return p && p.loss >= 6 && el.dataset.fwSource === 'live'; }",
        arg=WIDGET,
        timeout=60_000,
    )
    # the run is over: the progress bar gives way to the result
    lab.page.wait_for_selector(f"{WIDGET} .fw-progress", state="hidden", timeout=10_000)
    before = lab.result(2)
    assert before["picked"] is None and before["lr"] == before["valley"]

    # click at 40% of the plot width; the lr under that pixel, read from plotly's own axis
    plot = lab.page.locator(f"{WIDGET} .nsewdrag").first
    box = plot.bounding_box()
    assert box is not None
    px, py = box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5
    expected = lr_at(lab, px)
    lab.page.mouse.click(px, py)
    lab.page.wait_for_function(
        "(sel) => document.querySelector(sel).dataset.fwPicked !== ''", arg=WIDGET
    )
    after = lab.result(2)
    assert after["picked"] is not None and after["lr"] == after["picked"]
    assert abs(math.log10(after["lr"]) - math.log10(expected)) <= math.log10(1.02)
    # drag the marker to 60% of the width: the pick follows and reaches Python on release
    px2 = box["x"] + box["width"] * 0.6
    expected2 = lr_at(lab, px2)
    lab.page.mouse.move(px, py)
    lab.page.mouse.down()
    lab.page.mouse.move(px2, py, steps=8)
    lab.page.mouse.up()
    dragged = lab.result(2)
    assert abs(math.log10(dragged["lr"]) - math.log10(expected2)) <= math.log10(1.02)
    code = lab.page.text_content(f"{WIDGET} .fw-code") or ""
    assert code.startswith("learn.fit_one_cycle(4, ")
    lab.screenshot("lr_finder.png")

    lab.save()
    lab.page.reload()
    lab.page.wait_for_function(
        "(sel) => { const el = document.querySelector(sel);"
        " const p = el && JSON.parse(el.dataset.fwPoints || '{}'); return p && p.loss >= 6; }",
        arg=WIDGET,
        timeout=120_000,
    )
