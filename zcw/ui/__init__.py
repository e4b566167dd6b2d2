"""Terminal user interface: the live dashboard of `zcw run`."""
