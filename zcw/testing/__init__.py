"""Fakes shared by tests/ and hil/."""
