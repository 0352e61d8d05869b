"""After `pybabel update`: the source strings are English, so the English catalog repeats them."""

from __future__ import annotations

from babel.messages.pofile import read_po, write_po

PATH = "incident_service/translations/en/LC_MESSAGES/messages.po"

with open(PATH, "rb") as handle:
    catalog = read_po(handle)
for message in catalog:
    if message.id:
        message.string = message.id
        message.flags.discard("fuzzy")
with open(PATH, "wb") as handle:
    write_po(handle, catalog, no_location=True, sort_output=True, width=100, ignore_obsolete=True)
