"""aobo: Exchange Online "administer on behalf of" service and partner toolkit.

The partner toolkit's names are available here too (``aobo.connect``, ``aobo.Credential``,
``aobo.run_across``, ...), imported from :mod:`aobo.toolkit` on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    import aobo.toolkit

    if name in aobo.toolkit.__all__:
        return getattr(aobo.toolkit, name)
    raise AttributeError(f"module 'aobo' has no attribute {name!r}")


def __dir__() -> list[str]:
    import aobo.toolkit

    return sorted({*globals(), *aobo.toolkit.__all__})


__all__ = ["__version__"]
