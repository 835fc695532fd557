"""The executed notebooks as pages: standalone HTML (nbconvert's lab template) with MathJax served from
``build/`` so equations render offline, links between pages, and ``index.html`` listing each notebook's goals.
"""

from __future__ import annotations

import ast
import html
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import jinja2
import nbformat
from nbconvert import HTMLExporter

from gcflnet_lib.errors import UserError
from gcflnet_lib.files import atomic_write_text
from gcflnet_lib.workbook.context import REPO_ROOT
from gcflnet_lib.workbook.widget_snapshot import SNAPSHOT_NOTE_CLASS, add_widget_snapshots

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"


def list_notebooks(notebooks_dir: str | os.PathLike = NOTEBOOKS_DIR, only: Sequence[str] = ()) -> list[Path]:
    """The workbook's notebooks in order (``NN_topic.ipynb``), optionally those whose name starts with one of ``only``."""
    paths = sorted(p for p in Path(notebooks_dir).glob("[0-9][0-9]_*.ipynb"))
    if only:
        chosen = [p for p in paths if any(p.stem.startswith(prefix) for prefix in only)]
        unknown = [prefix for prefix in only if not any(p.stem.startswith(prefix) for p in paths)]
        if unknown:
            raise UserError(f"--only {' '.join(unknown)}: no such notebook in {notebooks_dir}")
        paths = chosen
    return paths


MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"  # the one configuration jupyter-server-mathjax ships
# jupyter-server-mathjax ships MathJax 2 with the STIX-Web fonts only. MathJax's HTML-CSS output defaults to its
# TeX fonts: without them brackets do not stretch and the first \big( fails to load its font data, leaving
# "[Math Processing Error]". This local configuration (loaded after MATHJAX_CONFIG) points HTML-CSS at STIX-Web,
# as Jupyter's own pages do, and leaves no image-font fallback to warn about.
MATHJAX_LOCAL_CONFIG = "local/gcflnet"
MATHJAX_FONTS = """MathJax.Hub.Config({
  "HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null}
});
MathJax.Ajax.loadComplete("[MathJax]/config/local/gcflnet.js");
"""
OFFLINE_MATH_NOTE = (
    "*Equations on this page are typeset by MathJax loaded from the network: offline they show as LaTeX source. "
    "Install `jupyter-server-mathjax` (a dependency of this project) and run `scripts/run_workbook.py` again for "
    "pages that render offline.*"
)


def local_mathjax(build_dir: Path) -> str | None:
    """Copy MathJax from the ``jupyter-server-mathjax`` package into ``build_dir/mathjax`` once, with the font
    configuration :data:`MATHJAX_FONTS`; its URL, relative to pages in ``build_dir`` (None when the package is
    absent: pages then load MathJax from the network)."""
    try:
        import jupyter_server_mathjax
    except ImportError:
        return None
    source = Path(jupyter_server_mathjax.__file__).parent / "static"
    target = Path(build_dir) / "mathjax"
    if not (target / "MathJax.js").is_file():
        staging = Path(build_dir) / ".mathjax.partial"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(source, staging)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    fonts = target / "config" / f"{MATHJAX_LOCAL_CONFIG}.js"
    if not fonts.is_file() or fonts.read_text(encoding="utf-8") != MATHJAX_FONTS:  # a copy made before it existed
        fonts.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(fonts, MATHJAX_FONTS)
    return f"mathjax/MathJax.js?config={MATHJAX_CONFIG},{MATHJAX_LOCAL_CONFIG}"


# The navigation line's "index" link (scripts/notebooks/_cells.py): the table of notebook 00 in JupyterLab,
# the index page beside the exported pages.
INDEX_LINK = "00_tour.ipynb#The-eleven-notebooks"
INDEX_PAGE = "index.html"
# A relative link to a notebook beside the page (no scheme, no folder): href="07_training_gcflnet.ipynb#Part".
_NOTEBOOK_HREF = re.compile(r'href="(?![A-Za-z][A-Za-z0-9+.-]*:)([^"#/?]+)\.ipynb(#[^"]*)?"')


def page_links(body: str) -> str:
    """An exported page's links to sibling notebooks pointed at their pages (``NN_topic.html``), and the
    navigation's index link at :data:`INDEX_PAGE`: the pages are read without a notebook server."""
    body = body.replace(f'href="{INDEX_LINK}"', f'href="{INDEX_PAGE}"')
    return _NOTEBOOK_HREF.sub(lambda match: f'href="{match.group(1)}.html{match.group(2) or ""}"', body)


def notebook_goals(notebook: str | os.PathLike) -> tuple[str, list[str]]:
    """A generated notebook's title (its first ``# `` heading) and the items of its "What you will learn" list,
    as ``scripts/notebooks/_cells.py`` writes them: the index page reads them rather than repeat them."""
    title, goals = Path(notebook).stem, []
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type != "markdown":
            continue
        heading = next((line[2:].strip() for line in cell.source.splitlines() if line.startswith("# ")), None)
        if heading and title == Path(notebook).stem:
            title = heading
        if "**What you will learn**" in cell.source and not goals:
            listed = cell.source.split("**What you will learn**", 1)[1].split("\n\n**", 1)[0]
            goals = [line[2:].strip() for line in listed.splitlines() if line.startswith("- ")]
    return title, goals


def _inline_markdown(text: str) -> str:
    """The inline markup the goals use (`code`, *emphasis*), as HTML; everything else escaped."""
    escaped = html.escape(text)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", escaped)


def write_index(build_dir: str | os.PathLike, notebooks_dir: str | os.PathLike = NOTEBOOKS_DIR,
                mathjax_url: str | None = None) -> Path:
    """``build_dir/index.html``: every notebook of ``notebooks_dir`` in reading order with its goals, linked to
    its page where this build holds one (a run with ``--only`` builds some). ``mathjax_url`` (``local_mathjax``)
    typesets the goals' ``$...$`` as on the pages."""
    math = ("<script type='text/x-mathjax-config'>MathJax.Hub.Config({tex2jax: {inlineMath: [['$', '$']]}});"
            f"</script><script src='{mathjax_url}'></script>" if mathjax_url else "")

    items = []
    for notebook in list_notebooks(notebooks_dir):
        title, goals = notebook_goals(notebook)
        page = Path(build_dir) / f"{notebook.stem}.html"
        heading = (f'<a href="{page.name}">{html.escape(title)}</a>' if page.is_file()
                   else f"{html.escape(title)} <small>(no page in this build: run scripts/run_workbook.py)</small>")
        listed = "".join(f"<li>{_inline_markdown(goal)}</li>" for goal in goals)
        items.append(f"<li><p>{heading}</p><ul>{listed}</ul></li>")
    body = (
        f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>GCFLNet workbook</title>{math}"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
        "ol>li>p{font-weight:bold;margin-bottom:0.2em}</style></head><body>"
        "<h1>GCFLNet workbook</h1><p>The executed notebooks, in reading order, with what each teaches.</p>"
        f"<ol start='0'>{''.join(items)}</ol></body></html>\n"
    )
    return atomic_write_text(Path(build_dir) / INDEX_PAGE, body)


# What a page leaves off: papermill's injected cell ("# Parameters", the runner's overrides) is dropped, and a line
# says which default it changed, if any; the workbook's own folders are no lesson.
INJECTED_TAG = "injected-parameters"
RUNNER_ONLY_PARAMETERS = ("RESULTS_DIR", "RUN_DIR")
# Folded cells: a code cell whose ``metadata.jupyter.source_hidden`` is set (JupyterLab shows it collapsed; the
# self-check cells of scripts/notebooks/_cells.py ``checks``) keeps its code in a closed <details> on the page.
FOLDED_CLASS = "gcfl-folded"
FOLDED_SUMMARY = "code folded: click to show"
# Output text never wraps inside a word: JupyterLab's style breaks output lines anywhere ("word-break: break-all"),
# which split numbers across lines ("pixel AUC 0.|8956"). Long lines scroll instead, and tables stay aligned.
OUTPUT_STYLE = (".jp-OutputArea-output pre {white-space: pre; word-break: normal; overflow-wrap: normal; "
                "overflow-x: auto}")
PAGE_TEMPLATE = f"""{{%- extends 'index.html.j2' -%}}
{{% block input_group -%}}
{{%- if cell.metadata.get('jupyter', {{}}).get('source_hidden') -%}}
<details class="{FOLDED_CLASS}"><summary>{FOLDED_SUMMARY}</summary>
{{{{ super() }}}}
</details>
{{%- else -%}}
{{{{ super() }}}}
{{%- endif -%}}
{{%- endblock input_group %}}
{{% block html_head_css -%}}
{{{{ super() }}}}
<style>{OUTPUT_STYLE} .{FOLDED_CLASS} > summary {{cursor: pointer; color: #666; font-size: 85%; margin: 0.3em 0}}</style>
{{%- endblock html_head_css %}}
"""


# What no page may hold (:func:`machinery_on_page`): papermill's injected cell, the recorded load averages, an
# object's bare repr as a cell's result, the project's own history.
OFF_THE_PAGE = {
    "# Parameters": "papermill's injected parameters cell",
    "load average": "a load average",
    " at 0x": "a bare object repr (end the cell with ';')",
}
_HISTORY = re.compile(r"\b(?:Until|Since|Before|Up to) (?:January|February|March|April|May|June|July|August|September|"
                      r"October|November|December) \d{4}\b")
# A number or a quoted word split by a line break inside an output ("0.\n8956", "'contr\nadicted'").
_BROKEN = re.compile(r"\d[.,]\n\d|\d\n[.,]\d|\de[-+]?\n\d|'[A-Za-z_]+\n[A-Za-z_]+'")
_OUTPUT_PRE = re.compile(r'<div class="jp-RenderedText[^"]*"[^>]*>\s*<pre>(.*?)</pre>', re.S)


def machinery_on_page(body: str) -> list[str]:
    """What an exported page shows that belongs to the workbook's machinery, not to the lesson: each of
    :data:`OFF_THE_PAGE`, project history ("Until December 2026 ..."), an output line broken inside a number or a
    quoted word, output text that may wrap inside a word (the page lacks :data:`OUTPUT_STYLE`), and a widget caption
    (a table's ``<caption>``, a snapshot's note) shown more than once. [] for a clean page."""
    visible = re.sub(r"<script\b.*?</script>", "", body, flags=re.S)  # stored widget state is no text on the page
    text = html.unescape(re.sub(r"<[^>]+>", "", visible))
    found = [f"{what}: {needle.strip()!r}" for needle, what in OFF_THE_PAGE.items() if needle in text]
    found += [f"project history: {match.group(0)!r}" for match in _HISTORY.finditer(text)]
    for output in _OUTPUT_PRE.findall(visible):
        output = html.unescape(re.sub(r"<[^>]+>", "", output))
        found += [f"broken across lines: {match.group(0)!r}" for match in _BROKEN.finditer(output)]
    if OUTPUT_STYLE not in body:
        found.append("output lines may wrap inside a number: the page lacks OUTPUT_STYLE")
    captions = re.findall(r"<caption>(.*?)</caption>", visible, flags=re.S)
    captions += re.findall(rf"<div class='{SNAPSHOT_NOTE_CLASS}'[^>]*>(.*?)</div>", visible, flags=re.S)
    found += [f"widget caption shown {captions.count(caption)} times: {caption!r}"
              for caption in sorted(set(captions)) if captions.count(caption) > 1]
    return found


def _parameter_defaults(notebook) -> dict:
    """The literals of the notebook's cell tagged ``parameters`` ({} without one, or for anything but literals)."""
    cell = next((c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])), None)
    defaults = {}
    try:
        for statement in ast.parse(cell.source).body if cell is not None else []:
            if isinstance(statement, ast.Assign) and isinstance(statement.targets[0], ast.Name):
                defaults[statement.targets[0].id] = ast.literal_eval(statement.value)
    except (SyntaxError, ValueError):
        return {}
    return defaults


def without_injected_parameters(notebook) -> list[str]:
    """Drop papermill's injected parameters cell from an executed ``notebook`` (in place). Where the run changed a
    default a reader would see in the parameters cell (``SMOKE = True`` of a smoke build), a one-line note takes its
    place; the runner's folders (:data:`RUNNER_ONLY_PARAMETERS`) are not mentioned. Returns the changed names."""
    injected = dict((notebook.metadata.get("papermill") or {}).get("parameters") or {})
    defaults = _parameter_defaults(notebook)
    changed = [name for name, value in injected.items()
               if name not in RUNNER_ONLY_PARAMETERS and (name not in defaults or defaults[name] != value)]
    cells = []
    for cell in notebook.cells:
        if INJECTED_TAG not in cell.metadata.get("tags", []):
            cells.append(cell)
        elif changed:
            settings = ", ".join(f"`{name} = {injected[name]!r}`" for name in changed)
            cells.append(nbformat.v4.new_markdown_cell(f"*This page was run with {settings} in place of the default "
                                                       "above.*"))
    notebook.cells = cells
    return changed


def export_html(executed: Path, html_path: Path, mathjax_url: str | None = None) -> Path:
    """Render an executed notebook to a standalone HTML page (nbconvert's lab template), atomically.

    ``mathjax_url``: a local MathJax (``local_mathjax``) so equations render offline; without one the page
    loads MathJax from the network and says so at its top. Links to sibling notebooks point at their pages
    (:func:`page_links`). The machinery stays off the page: papermill's injected parameters cell is dropped
    (:func:`without_injected_parameters`), folded cells (the self-checks) keep their code in a closed
    ``<details>``, and output lines scroll rather than break inside a number (:data:`OUTPUT_STYLE`).
    Widgets render live from their stored state
    when the page can load ``@jupyter-widgets/html-manager``; a static snapshot of each
    (``widget_snapshot.add_widget_snapshots``) shows their initial view where it cannot.
    """
    notebook = nbformat.read(executed, as_version=4)
    without_injected_parameters(notebook)
    add_widget_snapshots(notebook)  # widgets stay readable where the html-manager CDN cannot be reached
    exporter = HTMLExporter(extra_loaders=[jinja2.DictLoader({"gcflnet_page.html.j2": PAGE_TEMPLATE})],
                            template_file="gcflnet_page.html.j2")
    if mathjax_url:
        exporter.mathjax_url = mathjax_url
    else:
        notebook.cells.insert(0, nbformat.v4.new_markdown_cell(OFFLINE_MATH_NOTE))
    body, _ = exporter.from_notebook_node(notebook)
    atomic_write_text(html_path, page_links(body))
    return html_path
