"""What the bridge did by itself (docs/safety.md, layer 1), as faults and as what it ended.

The bridge's word on its relays is final; the cycle never argues with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from zcw.domain import faults as F
from zcw.domain.cycle.events import FaultBook
from zcw.domain.model import BridgeNotice

# Faults that tell of something the bridge did by itself: shown until the next cycle starts.
BRIDGE_EVENT_FAULTS = frozenset({"bridge_local_close", "bridge_dead_man"})


@dataclass(frozen=True, slots=True)
class Ended:
    """What a notice ended: one loop's valve, or the whole cycle (``loop`` None)."""

    reason: str
    loop: str | None = None


def on_notice(notice: BridgeNotice, faults: FaultBook) -> Ended | None:
    """Say what the bridge did (raise or clear its fault), and return what it ended."""
    loop, kind = notice.loop, notice.kind
    if kind == "bound":
        if loop is not None:
            faults.clear("bridge_binding", loop)
        return None
    if kind in ("local_close", "refused", "bind_refused"):
        if loop is None:
            return None  # the pump followed its last valve: the valve's own notice says why
        if kind == "bind_refused":
            faults.raise_(F.bridge_binding(loop, notice.detail))
        else:
            faults.raise_(F.bridge_local_close(loop, notice.detail, refused=kind == "refused"))
        return Ended(f"bridge_{kind}", loop)
    if kind == "cap":
        faults.raise_(F.bridge_cap(loop, notice.detail))
    else:
        faults.raise_(F.bridge_dead_man(notice.detail))
    return Ended(f"bridge_{kind}")
