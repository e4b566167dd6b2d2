"""The plant model of docs/physics.md §3: pipes, heater, sensors and the network of one house."""

from hil.plant.plant import Plant

__all__ = ["Plant"]
