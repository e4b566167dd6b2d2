"""`zcw bench`: control strategies against the physical limit on simulated houses."""
