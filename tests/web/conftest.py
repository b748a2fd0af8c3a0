"""Fixtures of the web UI tests (helpers in tests/web/kit.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from collector.store import Store
from tests.web.kit import PASSWORD, Browser, World, make_world


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    """Two seeded clients (acme, globex) and users of every role on ``store``."""
    return make_world(store, tmp_path)


@pytest.fixture
def browser(world: World) -> Callable[..., Browser]:
    """``browser("tech")``: a client logged in as that user (asserts the login worked)."""

    def make(username: str, password: str = PASSWORD) -> Browser:
        b = Browser(world.app)
        response = b.login(username, password)
        assert response.status_code == 303, response.text
        return b

    return make


@pytest.fixture(scope="module")
def chrome() -> Iterator[Any]:
    """One headless Chromium per browser test module (tests/web/chromium.py; skips where
    chromium, chromedriver or selenium are missing)."""
    import shutil
    import tempfile

    from tests.web.chromium import start_chrome

    profile = tempfile.mkdtemp(prefix="upkeep-chromium-")
    driver = start_chrome(profile)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
