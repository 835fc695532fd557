"""The paper is cited as published, and CITATION.cff is valid.

CITATION.cff is validated against the Citation File Format 1.2.0 JSON schema, vendored as
``tests/data/cff-1.2.0-schema.json`` (the copy that cffconvert 2.0.0 ships, ``cffconvert/schemas/1.2.0/schema.json``;
the schema is published at https://citation-file-format.github.io/1.2.0/schema.json). cffconvert itself is not a
dev dependency: it pins ``jsonschema<4``, which would downgrade the ``jsonschema`` that nbformat and
jupyter-events need. ``jsonschema`` and ``yaml`` come with nbformat and papermill.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "tests" / "data" / "cff-1.2.0-schema.json"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# The paper as published: Electronics (MDPI) 2026, 15(4), 868.
TITLE = "Gradient Compensation-Based Feature Learning Network (GCFLNet) for Infrared Small Target Detection"
DOI = "10.3390/electronics15040868"
DOI_LINK = f"https://doi.org/{DOI}"
# What the pages said before the paper was known to be published.
UNPUBLISHED_WORDING = ("no author list", "prints no author", "no venue", "venue or year")


def citation() -> dict:
    # CFF is YAML 1.2; dates would need casting to strings before validation (the schema's note), this file has none.
    return yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))


def test_citation_cff_validates_against_the_cff_1_2_0_schema():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema["$id"] == "https://citation-file-format.github.io/1.2.0/schema.json"
    data = citation()
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    errors = [f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
              for error in validator.iter_errors(data)]
    assert not errors, "CITATION.cff does not validate:\n" + "\n".join(errors)
    assert data["cff-version"] == "1.2.0" and data["type"] == "software"


def test_the_schema_check_catches_a_broken_file():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    broken = citation()
    del broken["authors"]
    broken["references"][0]["doi"] = DOI_LINK  # a resolver URL, not a DOI
    messages = [error.message for error in jsonschema.Draft7Validator(schema).iter_errors(broken)]
    assert any("'authors' is a required property" in m for m in messages), messages
    assert any("does not match" in m for m in messages), messages


def test_the_paper_is_referenced_as_published():
    data = citation()
    (paper,) = [ref for ref in data["references"] if ref.get("doi") == DOI]
    assert paper["type"] == "article" and paper["title"] == TITLE
    published = (paper["journal"], paper["year"], paper["volume"], paper["issue"], paper["start"])
    assert published == ("Electronics", 2026, 15, 4, 868), published
    assert paper["url"] == DOI_LINK
    # The text this project holds prints no author list: no person is named (CFF requires an author; the one
    # entity given points to the DOI's record).
    assert all("name" in author and "family-names" not in author for author in paper["authors"]), paper["authors"]
    assert all(DOI in author["name"] for author in paper["authors"]), paper["authors"]


def test_readme_cites_the_paper_with_its_doi_link():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    paragraph = readme.split("**Paper**", 1)[1].split("\n\n", 1)[0]
    assert TITLE in paragraph and f"]({DOI_LINK})" in paragraph and "*Electronics* 2026, 15(4), 868" in paragraph
    assert "CITATION.cff" in paragraph
    assert not [w for w in UNPUBLISHED_WORDING if w in readme]


def markdown_of(path: Path) -> str:
    notebook = nbformat.read(path, as_version=4)
    return "\n\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_page_that_cites_the_paper_links_its_doi(path):
    text = markdown_of(path)
    cites = TITLE in text or "## References" in text
    assert cites, f"{path.name} has no references"  # every page ends with the shared references
    assert f"]({DOI_LINK})" in text, f"{path.name} cites the paper without its DOI link"
    assert TITLE in text and "*Electronics* 2026, 15(4), 868" in text
    assert not [w for w in UNPUBLISHED_WORDING if w in text], path.name


def test_docs_that_name_the_paper_cite_it():
    for name in ("ARCHITECTURE.md", "PAPER_READING.md"):
        text = (ROOT / "docs" / name).read_text(encoding="utf-8")
        assert f"]({DOI_LINK})" in text, name
