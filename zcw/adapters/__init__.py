"""Adapters at the edges: bridge link, MQTT, Mi Home, scheduler, store."""
