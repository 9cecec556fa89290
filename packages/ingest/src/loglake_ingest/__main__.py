"""``python -m loglake_ingest``: run the streaming ingest job (see ``loglake_ingest.cli``)."""

from __future__ import annotations

import sys

from loglake_ingest.cli import main as _main


def main() -> None:
    """Console entry point."""
    sys.exit(_main())


if __name__ == "__main__":
    main()
