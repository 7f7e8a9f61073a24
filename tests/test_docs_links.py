"""Every relative link in the README and docs/ leads to a file, and to a heading
of it where the link names one (GitHub's anchors), so that moving a section
between pages cannot leave a link behind."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("**/*.md"))]
# [text](target) and ![alt](target); a target has no spaces.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces
    as hyphens (letters, digits, '_' and '-' are kept)."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+)$", text, re.M):
        name = anchor(heading)
        suffix = 0
        while (f"{name}-{suffix}" if suffix else name) in found:
            suffix += 1  # GitHub numbers a repeated heading's anchor
        found.add(f"{name}-{suffix}" if suffix else name)
    return found


def links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t)]


def test_anchor_follows_github():
    assert anchor("What `xlnn build` does and promises") == (
        "what-xlnn-build-does-and-promises"
    )
    assert (
        anchor("The book's MNIST network, with a 7")
        == "the-books-mnist-network-with-a-7"
    )
    assert anchor("`xlnn export`, 1,000 rows") == "xlnn-export-1000-rows"


def test_every_relative_link_leads_somewhere():
    broken = []
    for page in PAGES:
        for target in links(page):
            path, _, fragment = target.partition("#")
            goal = (page.parent / path).resolve() if path else page
            name = f"{page.relative_to(REPO)}: {target}"
            if not goal.exists():
                broken.append(f"{name} (no such file)")
            elif fragment and (goal.suffix != ".md" or fragment not in anchors(goal)):
                broken.append(f"{name} (no such heading)")
    assert broken == []


def test_the_check_reads_links():
    # the scan above finds the README's links to every docs page
    targets = {t.partition("#")[0] for t in links(REPO / "README.md")}
    pages = {f"docs/{p.name}" for p in PAGES if p.parent.name == "docs"}
    assert pages <= targets
