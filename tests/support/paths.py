"""Where the repository is, for tests that run its code in other processes."""

from __future__ import annotations

from pathlib import Path

#: The repository's root: the working directory of subprocesses that import `tests` or
#: `examples`, and the folder holding pyproject.toml.
ROOT = Path(__file__).resolve().parents[2]
