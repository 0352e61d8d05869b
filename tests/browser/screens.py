"""Screenshots of the pages the browser tests walk through, and the checks every such page must pass:
no horizontal overflow, no duplicate ids, every control labelled, no axe-core violation of serious or
critical impact, and in Vietnamese no raw code or English word left untranslated (issue 13)."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

from axe_playwright_python.sync_playwright import Axe

# `make screenshots` sets SCREENSHOTS_DIR to docs/screenshots; a plain test run still takes every
# screenshot (the page must render) but into a temporary folder, so it leaves the tree clean.
SCREENSHOTS = Path(os.environ.get("SCREENSHOTS_DIR") or Path(tempfile.gettempdir()) / "incident_service-screenshots")

# What the page's own visible text is allowed to contain beside Vietnamese: addresses, references,
# times, and the few names that are the same in both languages. Evidence shown as received (a
# message's headers and text, codes in <code>) is left out of the check: it is not ours to translate.
ALLOWED = re.compile(
    r"\S+@\S+|https?://\S+|(?:RPT|INC)-\d{4}-\d{6}|GMT[+-]?\d*|UTC|ECC|CSV|JSON|A05|TOTP|"
    r"FreeOTP|Aegis|Google Authenticator|1Password|English|Tiếng Việt|"
    # An email header is named by its name in every language ("tiêu đề Received", "tiêu đề Date").
    r"tiêu đề (?:Received|Date|From|Reply-To|Sender|Message-ID)"
)
RAW_CODE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b|\b[a-z_]+:[a-z_]+(?::[a-z_]+)?\b")
# Words that are English and never Vietnamese (Vietnamese has "to", "in", "an", "no": not listed).
ENGLISH = re.compile(
    r"\b(?:the|and|with|from|your|this|that|please|password|report|received|sent|failed|none|true|false|"
    r"null|incident|customer|link|reset|queued|review|decision|undefined|acknowledgement)\b",
    re.IGNORECASE,
)

PAGE_FACTS = """() => {
  const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  const ids = [...document.querySelectorAll('[id]')].map((el) => el.id);
  const duplicates = ids.filter((id, i) => ids.indexOf(id) !== i);
  const unlabelled = [...document.querySelectorAll('input, select, textarea')]
    .filter((el) => !['hidden', 'submit', 'button'].includes(el.type) && visible(el))
    .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                    && !el.getAttribute('aria-labelledby'))
    .map((el) => el.name || el.id || el.outerHTML.slice(0, 80));
  // Every piece of text a user can meet, each on its own line (so two blocks never run together into
  // one word): text nodes, and the attributes a browser shows or reads out.
  const skipped = 'code, pre, .reference, .mail, table.headers, script, style, svg desc';
  const pieces = [document.title];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.parentElement.closest(skipped)) pieces.push(node.textContent);
  }
  document.querySelectorAll('[placeholder], [title], [aria-label], [alt], input[type=submit][value]').forEach((el) => {
    if (el.closest(skipped)) return;
    for (const name of ['placeholder', 'title', 'aria-label', 'alt']) pieces.push(el.getAttribute(name) || '');
    if (el.type === 'submit') pieces.push(el.value);
  });
  return {
    overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    duplicates, unlabelled, text: pieces.join('\\n'),
  };
}"""


# axe-core itself, from the registry package axe-playwright-python (its bundled axe.min.js is run inside
# the page under test; nothing is fetched). Only what blocks or badly hinders a user fails a test.
AXE = Axe()
BLOCKING = {"serious", "critical"}


def axe_problems(page: Any) -> list[str]:
    results = AXE.run(page)
    problems = []
    for violation in results.response["violations"]:
        if violation["impact"] not in BLOCKING:
            continue
        targets = ", ".join(" ".join(node["target"]) for node in violation["nodes"][:5])
        problems.append(f"axe {violation['impact']} {violation['id']} ({violation['help']}): {targets}")
    return problems


def page_problems(page: Any, language: str) -> list[str]:
    facts = page.evaluate(PAGE_FACTS)
    problems = []
    if facts["overflow"] > 0:
        problems.append(f"wider than the window by {facts['overflow']} px")
    problems += [f"duplicate id {name!r}" for name in sorted(set(facts["duplicates"]))]
    problems += [f"control without a label: {name}" for name in facts["unlabelled"]]
    problems += axe_problems(page)
    if language == "vi":
        text = ALLOWED.sub(" ", facts["text"])
        problems += [f"raw code on a Vietnamese page: {code!r}" for code in sorted(set(RAW_CODE.findall(text)))]
        problems += [
            f"English on a Vietnamese page: {match.group(0)!r} in {text[max(0, match.start() - 30) : match.end() + 30]!r}"
            for match in ENGLISH.finditer(text)
        ]
    return problems


def shoot(page: Any, name: str) -> None:
    """Check the page as its user would meet it, then keep its picture."""
    language = "vi" if name.endswith("-vi") else "en"
    problems = page_problems(page, language)
    assert not problems, f"{name} ({page.url}): " + "; ".join(problems)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
