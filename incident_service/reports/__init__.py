"""Reports for legal: the reporting-delay report, on the page, as CSV and JSON, and from the CLI."""
