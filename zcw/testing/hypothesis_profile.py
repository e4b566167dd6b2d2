"""A pytest plugin (``-p zcw.testing.hypothesis_profile`` in pyproject): the suite's
Hypothesis profile.

Property tests here judge logic, never speed (speed is measured by the benchmarks), and CI
runs three pytest streams side by side on two cores: Hypothesis's default 200 ms deadline
per example then fails a correct test on a loaded machine. The deadline is off; every other
default (the number of examples, the health checks) stays.
"""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("zcw", deadline=None)
settings.load_profile("zcw")
