"""`pip wheel .` on a clean checkout runs the js/ build and ships the bundle."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from fastwidgets._base import unpacked_bundle

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_from_a_clean_checkout_builds_and_ships_the_bundle(tmp_path: Path) -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    src = tmp_path / "src"
    for name in tracked:
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    assert not (src / "src/fastwidgets/static/curve.js").exists()
    # npm install from the lock file is the builder's own first step; lend it ours.
    (src / "js/node_modules").symlink_to(ROOT / "js/node_modules")
    env = {k: v for k, v in os.environ.items() if k != "HATCH_JUPYTER_BUILDER_SKIP_NPM"}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(src),
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    wheel = next((tmp_path / "dist").glob("fastwidgets-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        bundle = z.read("fastwidgets/static/curve.js").decode("utf-8")
    assert "fastwidgets/integrations/fastai.py" in names
    # the wheel ships the gzipped loader, and the curve's code is inside it
    source = unpacked_bundle(bundle)
    assert len(bundle) < 0.6 * len(source)
    assert "data-fw" in source or "fwWidget" in source
    assert "DecompressionStream" in bundle
    assert len(bundle) <= 1_600_000 and len(source) <= 1_600_000
