"""Evidence packs: everything about one incident, every timestamp labelled with its source, verifiable offline."""
