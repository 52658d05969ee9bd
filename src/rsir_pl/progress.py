"""Progress bars for long loops outside a Lightning Trainer (generation, batch recommendation)."""

from __future__ import annotations

from typing import Any


def progress_bar(total: int, enabled: bool, desc: str, unit: str = "it") -> Any:
    """A tqdm bar over ``total`` units, or None when disabled, empty or tqdm is missing."""
    if not enabled or total == 0:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True)
