"""Composition root: builds adapters from config, runs the control tick, orders shutdown."""
