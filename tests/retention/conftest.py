"""The console's fixtures (staff signed in through the real forms) for the retention pages' tests."""

from tests.console.conftest import staff_login  # noqa: F401
