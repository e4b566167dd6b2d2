"""The long soak: ``python -m hil.soak --days N --seed S [--json]`` (see ``hil/soak/soak.py``)."""

from hil.soak.soak import Options, run

__all__ = ["Options", "run"]
