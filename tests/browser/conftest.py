"""Real-browser harness: JupyterLab from this venv, driven by Playwright in Debian's Chromium.

Each test writes a notebook, opens it in JupyterLab, runs cells through JupyterLab's own
commands, interacts with the widget like a user (clicks, keys, drags) and reads back what
reached Python by running a cell that prints it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from .chromium import CHROMIUM, launch

ARTIFACTS = Path(__file__).parent / "artifacts"
TOKEN = "fastwidgets-test"

# Every test notebook starts with this cell: a small real fastai learner on real digits.
LEARNER_CELL = """
import json
import torch
from torch import nn
from sklearn.datasets import load_digits
from fastai.basics import *
from fastai.callback.all import *
from fastwidgets import LiveCurve

torch.manual_seed(0)
d = load_digits()
x = torch.tensor(d.data, dtype=torch.float32) / 16
y = torch.tensor(d.target)
items = list(zip(x, y))
dls = DataLoaders.from_dsets(items[:1437], items[1437:], bs=64, device="cpu")
model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
learn = Learner(dls, model, loss_func=nn.CrossEntropyLoss(), metrics=accuracy)
print("FW:" + json.dumps(len(dls.train)))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_notebook(path: Path, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    # Without kernelspec metadata JupyterLab opens a kernel picker that blocks the test.
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    nb.cells = [nbformat.v4.new_code_cell(c.strip()) for c in cells]
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    root = tmp_path_factory.mktemp("lab")
    home = tmp_path_factory.mktemp("home")
    settings = home / "settings"
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    # No news or update checks: this machine has no internet and the toasts cover widgets.
    (
        settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    ).write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port = _free_port()
    env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "PYTHONUNBUFFERED": "1",
    }
    log = (home / "lab.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.expose_app_in_browser=True",
            "--ServerApp.open_browser=False",
            "--allow-root",
        ],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            log.flush()
            pytest.fail("JupyterLab did not start:\n" + (home / "lab.log").read_text()[-4000:])
        time.sleep(0.5)
    try:
        yield base, root
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


class Lab:
    """A notebook open in JupyterLab, driven through JupyterLab's own commands."""

    def __init__(self, page: Any, base: str, root: Path) -> None:
        self.page = page
        self.base = base
        self.root = root

    def open(self, name: str) -> None:
        # `reset`: no tabs restored from an earlier test's workspace.
        self.page.goto(f"{self.base}/lab/tree/{name}?token={TOKEN}&reset")
        self.page.wait_for_function(
            "(name) => { const w = window.jupyterapp?.shell.currentWidget;"
            " return w?.context?.path === name"
            " && w.sessionContext?.session?.kernel?.status === 'idle'; }",
            arg=name,
            timeout=120_000,
        )

    def run_cell(self, index: int, timeout: float = 300) -> str:
        """Run one cell, wait until it finished, return its output text."""
        self.page.evaluate(
            """async (i) => {
                const nb = window.jupyterapp.shell.currentWidget;
                nb.content.activeCellIndex = i;
                await window.jupyterapp.commands.execute('notebook:run-cell');
            }""",
            index,
        )
        self.page.wait_for_function(
            """(i) => {
                const nb = window.jupyterapp.shell.currentWidget;
                const cell = nb.content.widgets[i];
                const k = nb.sessionContext.session.kernel;
                return cell.model.executionCount !== null && k.status === 'idle';
            }""",
            arg=index,
            timeout=timeout * 1000,
        )
        failed = self.page.evaluate(
            """(i) => window.jupyterapp.shell.currentWidget.content.widgets[i].model.outputs
                .toJSON().some((o) => o.output_type === 'error')""",
            index,
        )
        if failed:
            raise AssertionError(f"cell {index} raised:\n{self.output(index)}")
        return self.output(index)

    def result(self, index: int, timeout: float = 300) -> Any:
        """Run a cell that prints ``FW:<json>`` and return the decoded value (what Python saw)."""
        for line in self.run_cell(index, timeout).splitlines():
            if line.startswith("FW:"):
                return json.loads(line[3:])
        raise AssertionError(f"cell {index} printed no FW: line:\n{self.output(index)}")

    def output(self, index: int) -> str:
        text: str = self.page.evaluate(
            "(i) => window.jupyterapp.shell.currentWidget.content.widgets[i]"
            ".outputArea.node.innerText",
            index,
        )
        return text

    def save(self) -> None:
        """Save the notebook (outputs included), as Ctrl+S would."""
        self.page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
        self.page.wait_for_function(
            "() => !window.jupyterapp.shell.currentWidget.context.model.dirty"
        )

    def screenshot_path(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        return ARTIFACTS / name

    def screenshot(self, name: str) -> Path:
        out = self.screenshot_path(name)
        self.page.screenshot(path=str(out), full_page=True)
        return out


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.fw_failed = report.failed


@pytest.fixture
def lab(
    request: pytest.FixtureRequest, lab_server: tuple[str, Path], browser: Any
) -> Iterator[Lab]:
    base, root = lab_server
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    lab = Lab(page, base, root)
    try:
        yield lab
    finally:
        if getattr(request.node, "fw_failed", False):
            # What the user would have seen, and what the page said, for the failure report.
            lab.screenshot(f"FAILED-{request.node.name}.png")
            (ARTIFACTS / f"FAILED-{request.node.name}.log").write_text("\n".join(console))
        context.close()


def copy_example(root: Path, name: str) -> None:
    shutil.copy(Path(__file__).resolve().parents[2] / "examples" / name, root / name)
