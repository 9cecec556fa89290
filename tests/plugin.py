"""The shared pytest plugin of loglake: one place for every cross-package fixture.

Each concern lives in its own module under ``tests/fixtures``; heavy imports (pyspark,
the local stack) happen inside the fixtures, so the lambda environment can load this
plugin without pyspark.
"""

pytest_plugins = [
    "tests.fixtures.aws",
    "tests.fixtures.spark",
    "tests.fixtures.stack",
]
