# The part of asn1crypto the RFC 3161 time-stamps use (incident_service/audit/timestamping.py); it
# publishes no types. Its values are dynamic (fields by name, `.native` any Python value), so fields are Any.
