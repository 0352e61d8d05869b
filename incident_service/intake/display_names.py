"""What a sender's display name may hide from the staff who read it (docs/security.md M3; issue 11, item 8).

The customer is matched on the parsed address alone, but staff read the display name too: one that
reads as another address ("security@ecc.example" <x@evil.example>), or carries characters that turn
text around or do not show, is flagged, and those characters are shown by name.
"""

from __future__ import annotations

import re
import unicodedata

from flask_babel import gettext as _

# Bidirectional formatting characters (Unicode's Bidi_Control) and ones that take no space.
DIRECTION_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad")
ADDRESS_LIKE = re.compile(r"[^\s<>\"'(),;:@]+@[^\s<>\"'(),;:@]+\.[^\s<>\"'(),;:@]+")

LOOKS_LIKE_ANOTHER_ADDRESS = "looks_like_another_address"
DIRECTION_CONTROL = "direction_control"
INVISIBLE_CHARACTER = "invisible_character"


def display_name_warnings(display_name: str | None, address: str | None) -> list[str]:
    """Codes for what is misleading in `display_name` beside the real `address`, in a fixed order."""
    if not display_name:
        return []
    warnings = []
    # NFKC folds full-width and other compatibility forms ("ｓｅｃｕｒｉｔｙ＠…") into what they imitate.
    folded = "".join(
        char
        for char in unicodedata.normalize("NFKC", display_name)
        if char not in DIRECTION_CONTROLS and char not in INVISIBLE
    ).lower()
    real = (address or "").lower()
    if any(candidate.strip(".") != real for candidate in ADDRESS_LIKE.findall(folded)):
        warnings.append(LOOKS_LIKE_ANOTHER_ADDRESS)
    if any(char in DIRECTION_CONTROLS for char in display_name):
        warnings.append(DIRECTION_CONTROL)
    if any(char in INVISIBLE for char in display_name):
        warnings.append(INVISIBLE_CHARACTER)
    return warnings


def display_name_warning_texts(display_name: str | None, address: str | None) -> list[str]:
    """What staff are told about `display_name`, one translated sentence per warning."""
    texts = {
        LOOKS_LIKE_ANOTHER_ADDRESS: _(
            "The display name reads like another address: the sender is the address above, not the one in the name."
        ),
        DIRECTION_CONTROL: _(
            "The display name contains characters that reverse the direction of text; they are shown by their code."
        ),
        INVISIBLE_CHARACTER: _("The display name contains invisible characters; they are shown by their code."),
    }
    return [texts[code] for code in display_name_warnings(display_name, address)]


def show_controls(text: str | None) -> str:
    """`text` with each direction-changing or invisible character written as its code point, so it
    cannot reorder or hide what staff read."""
    return "".join(
        f"⟨U+{ord(char):04X}⟩" if char in DIRECTION_CONTROLS or char in INVISIBLE else char for char in text or ""
    )
