"""Pipeline tests use the whole local stack; `run_pipeline` and `approve` live in tests/conftest.py."""
