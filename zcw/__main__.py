"""Entry point for ``python -m zcw``."""

from zcw.cli import main

raise SystemExit(main())
