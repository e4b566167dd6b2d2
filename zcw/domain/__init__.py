"""Pure domain logic: controller, safety, sensor validation. Stdlib only, injected clock."""
