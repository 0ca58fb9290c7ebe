"""``python -m flows``: see ``flows.cli``."""

from flows.cli import main

raise SystemExit(main())
