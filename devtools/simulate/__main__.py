"""`python -m devtools.simulate` (`make simulate`): see the package's docstring."""

from __future__ import annotations

import sys

from devtools.simulate.cli import main

if __name__ == "__main__":
    sys.exit(main())
