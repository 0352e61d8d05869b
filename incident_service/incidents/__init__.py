"""Reports and incidents: what customers tell us, when it reached us, and the case it opens."""
