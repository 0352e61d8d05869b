"""The console's fixtures (staff signed in through the real forms) for the data-request tests."""

from tests.console.conftest import staff_login  # noqa: F401
