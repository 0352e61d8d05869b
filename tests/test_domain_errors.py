"""Every refusal the rules make is a DomainError, so edges can tell a refusal from a fault (issue 12)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import incident_service
from incident_service.domain_errors import DomainError

# Raised for faults in the code calling them, never as an outcome a person should be told about.
# ApiProblem is the JSON API edge's answer (an HTTP error with its problem details), not a rule's refusal.
NOT_DOMAIN = {
    "TemporaryFailure",
    "PermanentFailure",
    "Quarantine",
    "ConfigurationError",
    "UnknownAuditAction",
    "ApiProblem",
}


def test_every_error_class_of_the_package_is_a_domain_error() -> None:
    found = []
    for module_info in pkgutil.walk_packages(incident_service.__path__, "incident_service."):
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, Exception)
                and value.__module__ == module.__name__
                and name not in NOT_DOMAIN
            ):
                found.append(value)
                assert issubclass(value, DomainError), f"{module.__name__}.{name} should derive from DomainError"
                assert not issubclass(value, ValueError), f"{module.__name__}.{name} is still a ValueError"
    assert len(found) >= 10
