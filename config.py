"""The settings: read from the environment and checked in `incident_service/settings.py` (the table of
every setting is in the README). This file keeps the place the project's layout gives them; it is not
installed as a module of its own, so no other package's `config` can clash with it."""

from incident_service.settings import ConfigurationError, load_settings  # noqa: F401
