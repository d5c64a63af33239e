"""Fixtures: one real ``onair dev`` for the session, and an SDK client of it."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from onair import OnAir  # noqa: E402
from onair_dev import OnAirDev, start  # noqa: E402


@pytest.fixture(scope="session")
def onair_dev():
    """A running ``onair dev``, stopped after the session."""
    server = start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sdk(onair_dev: OnAirDev) -> OnAir:
    """The SDK with the dev server's key."""
    return OnAir(onair_dev.base_url, onair_dev.api_key, onair_dev.api_secret)
