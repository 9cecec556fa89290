"""``python -m loglake_glue_etl``: run the batch ETL (see ``entrypoint``)."""

from __future__ import annotations

import sys

from loglake_glue_etl.entrypoint import main

if __name__ == "__main__":
    sys.exit(main())
