"""Assertions on API refusals."""

import pytest

from onair import OnAirError


def refused(fn, status: int, code: str) -> OnAirError:
    """Calls ``fn``; it must raise :class:`OnAirError` with ``status`` and
    ``code`` (the server's). Returns the error."""
    with pytest.raises(OnAirError) as e:
        fn()
    assert (e.value.status, e.value.code) == (status, code), e.value
    return e.value
