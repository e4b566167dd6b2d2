"""zcw: zero cold water. On-demand hot-water recirculation controller."""

__version__ = "0.1.0"
