"""Fixtures for the map tests: Debian's chromium driven by Playwright (no browser download).

Without /usr/bin/chromium (``apt-get install chromium``, done by ``./dev setup`` as root) the
browser tests are skipped with that hint.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("MEAD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
SMALL = Path(__file__).resolve().parents[2] / "scenarios" / "small.yaml"
ARTIFACTS = Path(__file__).resolve().parents[2] / "out" / "test-artifacts"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless chromium (SwiftShader WebGL), shared by the session's tests."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"no chromium at {CHROMIUM}: apt-get install chromium (./dev setup as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh 1280×800 page; its console errors are collected in ``page.mead_errors``."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.mead_errors = errors
    yield pg
    ctx.close()


def screenshot(page: Any, name: str) -> Path:
    """Save a screenshot as a test artefact (out/test-artifacts/NAME.png)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def short_small(tmp: Path, duration_s: int) -> Path:
    """scenarios/small.yaml cut to ``duration_s`` (its first alerts come ~90 s in)."""
    text = SMALL.read_text().replace("duration_s: 2400", f"duration_s: {duration_s}")
    assert f"duration_s: {duration_s}" in text
    path = tmp / "short.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output folder of `mead run` on small.yaml cut to 300 s (with its replay)."""
    from mead.cli import main

    tmp = tmp_path_factory.mktemp("replay")
    out = tmp / "out"
    code = main(["run", str(short_small(tmp, 300)), "--out", str(out), "--jobs", "1", "--json"])
    assert code == 0
    return out


@pytest.fixture(scope="session")
def nats_server_bin() -> str:
    """Path of a usable nats-server for ``mead up``; skip (fail in CI) when there is none."""
    from mead.federation.natsserver import NatsServerMissing, require_nats_server

    try:
        return require_nats_server()
    except NatsServerMissing as e:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI needs a nats-server for the live map test: {e}")
        pytest.skip(str(e))
