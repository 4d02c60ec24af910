"""The repository stands alone: the docs cite only files inside it, and the architecture
page's event flow is what the code generates."""

from __future__ import annotations

import re
from pathlib import Path

from scripts import gen_architecture

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")  # [text](target) and ![alt](target)
CODE = re.compile(r"`([^`\s]+)`")
TOP = {p.name for p in ROOT.iterdir() if not p.name.startswith(".")} | {".ci"}


def cited_paths(doc: Path) -> list[str]:
    """Relative link targets, plus code spans naming a repo path or a Markdown file."""
    text = doc.read_text()
    found = [t for t in LINK.findall(text) if not re.match(r"[a-z]+:|#", t)]
    for token in CODE.findall(text):
        token = token.rstrip(".,;:")
        first = token.split("/", 1)[0]
        if token.endswith(".md") or ("/" in token and first in TOP):
            found.append(token)
    return found


def _exists(base: Path, path: str) -> bool:
    """A path, a glob (``tests/integration/test_fuzz_*.py``) matching at least one file, or
    ``docs/asyncapi-{executor,gateway}.json`` naming only existing files."""
    brace = re.search(r"\{([^{}]*)\}", path)
    if brace:
        return all(_exists(base, path[:brace.start()] + alt + path[brace.end():])
                   for alt in brace[1].split(","))
    return any(base.glob(path)) if "*" in path else (base / path).exists()


def missing(doc: Path) -> list[str]:
    gone = []
    for cited in cited_paths(doc):
        path = cited.split("#", 1)[0]
        if path.startswith("/"):
            gone.append(f"{cited} (outside the repository)")
        elif not any(_exists(base, path) for base in (doc.parent, ROOT, ROOT / "docs")):
            gone.append(cited)
    return gone


def test_every_path_the_readme_and_docs_cite_exists_in_the_repository() -> None:
    problems = {str(d.relative_to(ROOT)): missing(d) for d in DOCS}
    assert not {k: v for k, v in problems.items() if v}


def test_the_link_check_catches_a_citation_outside_the_repository(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("see `FASTSTREAM-NOTES.md`, [wire](SANDBOX-EXCHANGE.md), `shared/nope.py`, "
                   "`/work/shared/DESIGN.md` and `docs/bus.md`")
    assert missing(doc) == ["SANDBOX-EXCHANGE.md", "FASTSTREAM-NOTES.md", "shared/nope.py",
                            "/work/shared/DESIGN.md (outside the repository)"]


def test_architecture_page_shows_the_event_flow_the_code_generates() -> None:
    doc = gen_architecture.DOC.read_text()
    assert gen_architecture.updated(doc, gen_architecture.render()) == doc, (
        "docs/architecture.md differs from the code: run `make docs`")


def test_the_generator_finds_every_services_subscribers_and_producers() -> None:
    consumers, producers = gen_architecture.scan()
    consuming = {c.participant for c in consumers}
    assert {"gateway", "executor", "credentials", "strategy", "notifier"} <= consuming
    # The executor's handler table (a loop over tuples) yields one subscriber per row.
    executor = {(c.stream, c.schema) for c in consumers if c.participant == "executor"}
    assert ("piggy:intents", "OrderIntent") in executor and len(executor) >= 4
    produced = {(p.stream, p.participant) for p in producers}
    assert ("piggy:orders:requested", "executor") in produced  # written inside its Lua commit
    assert ("piggy:orders:events", "gateway") in produced
