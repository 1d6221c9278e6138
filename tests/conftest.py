"""Shared pytest fixtures (localcloud/services/pytest_plugin.py): `services` starts or reuses the
stores, `stack` the whole local stack, both on the tests' own stack under `.local/test`."""

pytest_plugins = ["localcloud.services.pytest_plugin"]
