"""The embedded development setup behind `make run`: mail sink, worker and web app in one process."""
