"""Personal data kept no longer than needed (issue 16): retention rules, legal holds, erasure, tombstones."""
