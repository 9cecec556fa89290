"""Root conftest: loads the shared fixture plugin for every test folder."""

pytest_plugins = ["tests.plugin"]
