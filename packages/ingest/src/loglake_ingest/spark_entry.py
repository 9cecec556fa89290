"""Entry script for spark-submit: ``spark-submit --py-files core.whl,ingest.whl spark_entry.py``.

spark-submit runs this file as a script, so it imports the package from the wheels
given with ``--py-files`` and hands the command line to the same CLI as
``python -m loglake_ingest``.
"""

from __future__ import annotations

import sys

from loglake_ingest.cli import main

if __name__ == "__main__":
    sys.exit(main())
