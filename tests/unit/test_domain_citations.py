"""Code, docs and tests cite the domain rules as ``docs/DOMAIN.md section N``, and that section exists.

The rules came from a brief outside the repository; a citation of a bare ``DOMAIN.md`` (or of a section the file
does not have) sends a reader to a file they cannot open.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CITING = ("features", "models", "training", "service", "churnltv", "tests", "docs", "benchmarks")


def _texts() -> dict[str, str]:
    files = [ROOT / "README.md", ROOT / "CHANGELOG.md"]
    files += [p for d in CITING for p in sorted((ROOT / d).rglob("*")) if p.suffix in {".py", ".md", ".j2"}]
    here = Path(__file__).resolve()  # this file spells the bare name out to look for it
    return {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in files if p.is_file() and p != here}


def test_every_domain_citation_names_docs_domain_md() -> None:
    bare = [
        f"{name}:{text.count(chr(10), 0, m.start()) + 1}"
        for name, text in _texts().items()
        for m in re.finditer(r"(?<![\w/])DOMAIN\.md", text)
    ]
    assert not bare, "cite docs/DOMAIN.md, not DOMAIN.md:\n" + "\n".join(bare)


def test_every_cited_section_exists() -> None:
    sections = set(re.findall(r"^## (\d+)\. ", (ROOT / "docs" / "DOMAIN.md").read_text(encoding="utf-8"), re.M))
    cited = {(name, n) for name, text in _texts().items() for n in re.findall(r"docs/DOMAIN\.md section (\d+)", text)}
    missing = sorted(f"{name} cites section {n}" for name, n in cited if n not in sections)
    assert not missing, "docs/DOMAIN.md has no such section:\n" + "\n".join(missing)
