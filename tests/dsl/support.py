"""Helpers for the DSL tests."""

from __future__ import annotations

import pytest

from bastion.dsl import APIExpr
from bastion.errors import DesignError


def finalize_error(api: APIExpr) -> str:
    """The message of the `DesignError` that finalizing `api` raises."""
    with pytest.raises(DesignError) as info:
        api.finalize()
    return str(info.value)
