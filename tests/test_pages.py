"""Executed pages that read well offline: local MathJax, no machine paths, no stray path output."""

import json

import nbformat
import pytest

from gcflnet_lib.workbook import pages as workbook_pages
from gcflnet_lib.workbook import record_results


def _executed_notebook(path, source="x = 1"):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell(r"Euler: $e^{i\pi} + 1 = 0$"), nbformat.v4.new_code_cell(source)]
    nbformat.write(notebook, path)
    return path


class TestMathJax:
    def test_local_copy_is_made_once_and_pages_point_at_it(self, tmp_path):
        url = workbook_pages.local_mathjax(tmp_path)
        assert url.startswith("mathjax/MathJax.js?config=")
        config = url.split("config=")[1].split(",")[0]
        assert (tmp_path / "mathjax" / "MathJax.js").is_file()
        assert (tmp_path / "mathjax" / "config" / f"{config}.js").is_file()
        # The fonts the package ships (STIX-Web, not MathJax's default TeX fonts), configured after the main config.
        assert url.endswith(f",{workbook_pages.MATHJAX_LOCAL_CONFIG}")
        fonts = (tmp_path / "mathjax" / "config" / f"{workbook_pages.MATHJAX_LOCAL_CONFIG}.js").read_text()
        assert 'webFont: "STIX-Web"' in fonts and "imageFont: null" in fonts
        assert (tmp_path / "mathjax" / "fonts" / "HTML-CSS" / "STIX-Web").is_dir()
        stamp = (tmp_path / "mathjax" / "MathJax.js").stat().st_mtime_ns
        assert workbook_pages.local_mathjax(tmp_path) == url
        assert (tmp_path / "mathjax" / "MathJax.js").stat().st_mtime_ns == stamp
        page = workbook_pages.export_html(_executed_notebook(tmp_path / "n.ipynb"), tmp_path / "n.html", url)
        html = page.read_text()
        assert 'src="mathjax/MathJax.js?config=' in html and "libs/mathjax" not in html
        assert workbook_pages.OFFLINE_MATH_NOTE[:40] not in html

    def test_without_a_local_copy_the_page_says_it_needs_the_network(self, tmp_path):
        page = workbook_pages.export_html(_executed_notebook(tmp_path / "n.ipynb"), tmp_path / "n.html", None)
        html = page.read_text()
        assert "libs/mathjax" in html and "MathJax loaded from the network" in html


class TestRecordedResults:
    def test_is_the_path_and_displays_one_line(self, tmp_path, capsys):
        path = record_results("01_topic", {"a": 1.5}, tmp_path)
        assert path == tmp_path / "01_topic.json" and json.loads(path.read_text()) == {"a": 1.5}
        path._ipython_display_()
        assert capsys.readouterr().out == "key results recorded in 01_topic.json\n"


class TestNotebooksStayClean:
    def test_git_strips_outputs_with_nbstripout(self, tmp_path):
        """The repository's .gitattributes routes notebooks through nbstripout, which the README installs."""
        import subprocess
        import sys
        from pathlib import Path

        root = Path(__file__).resolve().parents[1]
        assert "*.ipynb filter=nbstripout" in (root / ".gitattributes").read_text().splitlines()
        # The filter itself: a notebook with outputs comes out of nbstripout without them.
        notebook = nbformat.v4.new_notebook()
        cell = nbformat.v4.new_code_cell("1 + 1", execution_count=3)
        cell.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=3)]
        notebook.cells = [cell]
        path = tmp_path / "n.ipynb"
        nbformat.write(notebook, path)
        done = subprocess.run([sys.executable, "-m", "nbstripout", str(path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        stripped = nbformat.read(path, as_version=4)
        assert stripped.cells[0].outputs == [] and stripped.cells[0].execution_count is None


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """Every stored notebook exported as the runner exports it (their links are in markdown, so unexecuted
    notebooks carry them all), and the index page."""
    build = tmp_path_factory.mktemp("build")
    url = workbook_pages.local_mathjax(build)
    for notebook in workbook_pages.list_notebooks():
        workbook_pages.export_html(notebook, build / f"{notebook.stem}.html", url)
    workbook_pages.write_index(build, mathjax_url=url)
    return build


class TestNavigation:
    """The pages as the runner writes them link to each other's pages, not to notebooks, and index.html lists all."""

    REPO = __import__("pathlib").Path(__file__).resolve().parents[1]

    def test_links_of_exported_notebooks_point_at_pages(self):
        body = '<a href="01_x.ipynb">a</a> <a href="02_y.ipynb#Part-2">b</a> <a href="https://h/n.ipynb">c</a> ' \
               f'<a href="{workbook_pages.INDEX_LINK}">index</a> <a href="../docs/A.md">d</a>'
        assert workbook_pages.page_links(body) == ('<a href="01_x.html">a</a> <a href="02_y.html#Part-2">b</a> '
                                             '<a href="https://h/n.ipynb">c</a> <a href="index.html">index</a> '
                                             '<a href="../docs/A.md">d</a>')

    def test_every_relative_link_resolves(self, pages):
        """A link to a page must name a written page (and an anchor it holds); any other relative link a file of
        the repository, seen from build/ where the runner writes the pages."""
        import re

        pages_written = sorted(pages.glob("*.html"))
        assert len(pages_written) == len(workbook_pages.list_notebooks()) + 1 == 12
        broken = []
        for page in pages_written:
            for href in re.findall(r'href="([^"]*)"', page.read_text(encoding="utf-8")):
                if re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", href) or href.startswith("#") or not href:
                    continue  # absolute URLs (the CDN, the paper's sources) and anchors within the page
                target, _, anchor = href.partition("#")
                assert not target.endswith(".ipynb"), f"{page.name} links a notebook: {href}"
                if target.endswith(".html"):
                    found = pages / target
                    if not found.is_file() or (anchor and f'id="{anchor}"' not in found.read_text(encoding="utf-8")):
                        broken.append(f"{page.name}: {href}")
                elif not (self.REPO / "build" / target).resolve().exists():
                    broken.append(f"{page.name}: {href}")
        assert not broken, broken

    def test_index_lists_every_notebook_with_its_goals(self, pages):
        index = (pages / "index.html").read_text(encoding="utf-8")
        for notebook in workbook_pages.list_notebooks():
            title, goals = workbook_pages.notebook_goals(notebook)
            assert f'href="{notebook.stem}.html"' in index and len(goals) >= 2, notebook.name
            assert workbook_pages._inline_markdown(goals[0]) in index
        assert "mathjax/MathJax.js" in index  # the goals' $\theta$ typeset as on the pages

    def test_index_names_a_page_this_build_lacks_without_linking_it(self, tmp_path):
        workbook_pages.write_index(tmp_path)
        index = (tmp_path / "index.html").read_text(encoding="utf-8")
        assert "href=" not in index.split("<body>")[1] and index.count("no page in this build") == 11


class TestMachineryOffThePage:
    """What a page leaves off (issue 35): papermill's injected cell, the self-checks' code (folded), output lines
    that wrap inside a number; and ``machinery_on_page``, which the smoke runs of tests/test_notebooks.py apply to
    every notebook's page."""

    @staticmethod
    def _as_papermill_left_it(path, injected):
        notebook = nbformat.v4.new_notebook()
        parameters = nbformat.v4.new_code_cell('SMOKE = "auto"\nRESULTS_DIR = "../build/notebook_results"')
        parameters.metadata["tags"] = ["parameters"]
        pushed = nbformat.v4.new_code_cell("# Parameters\n" + "".join(f"{k} = {v!r}\n" for k, v in injected.items()))
        pushed.metadata["tags"] = ["injected-parameters"]
        lesson = nbformat.v4.new_code_cell("print(scores)")
        lesson.outputs = [nbformat.v4.new_output("stream", name="stdout", text="pixel AUC 0.8956; " * 12 + "\n")]
        checks = nbformat.v4.new_code_cell('assert scores\nworkbook.record_results("01_x", {}, RESULTS_DIR)')
        checks.metadata["tags"] = ["checks"]
        checks.metadata["jupyter"] = {"source_hidden": True}
        notebook.cells = [parameters, pushed, lesson, checks]
        notebook.metadata["papermill"] = {"parameters": injected}
        nbformat.write(notebook, path)
        return path

    def test_injected_parameters_are_dropped_and_a_changed_default_is_said_once(self, tmp_path):
        executed = self._as_papermill_left_it(tmp_path / "n.ipynb", {"SMOKE": True, "RESULTS_DIR": "/tmp/r"})
        html = workbook_pages.export_html(executed, tmp_path / "n.html", "mathjax/MathJax.js").read_text()
        assert "# Parameters" not in html and "/tmp/r" not in html
        assert html.count("This page was run with <code>SMOKE = True</code> in place of the default above.") == 1
        same = self._as_papermill_left_it(tmp_path / "m.ipynb", {"SMOKE": "auto", "RESULTS_DIR": "/tmp/r"})
        html = workbook_pages.export_html(same, tmp_path / "m.html", "mathjax/MathJax.js").read_text()
        assert "# Parameters" not in html and "This page was run with" not in html

    def test_checks_are_folded_and_outputs_scroll_instead_of_breaking(self, tmp_path):
        executed = self._as_papermill_left_it(tmp_path / "n.ipynb", {"SMOKE": True})
        html = workbook_pages.export_html(executed, tmp_path / "n.html", "mathjax/MathJax.js").read_text()
        folded = html.split(f'<details class="{workbook_pages.FOLDED_CLASS}">')
        assert len(folded) == 2 and "record_results" in folded[1].split("</details>")[0]  # the code, in the fold
        assert "record_results" not in folded[0] and "print" in folded[0]  # the lesson's code stays open
        assert workbook_pages.OUTPUT_STYLE in html and "white-space: pre;" in workbook_pages.OUTPUT_STYLE
        # The page's own rule comes after the lab template's "word-break: break-all", so it wins.
        assert html.rindex("word-break: break-all") < html.index(workbook_pages.OUTPUT_STYLE)
        assert workbook_pages.machinery_on_page(html) == []

    def test_machinery_on_page_names_each_problem(self):
        clean = f"<style>{workbook_pages.OUTPUT_STYLE}</style>"

        def output(text):
            return f'<div class="jp-RenderedText jp-OutputArea-output" data-mime-type="text/plain"><pre>{text}</pre></div>'

        assert workbook_pages.machinery_on_page(clean + output("pixel AUC 0.8956")) == []
        cases = {
            "# Parameters\nSMOKE = True": "injected parameters",
            "x86_64, 2 cores, load average 5.6": "load average",
            output("&lt;matplotlib.colorbar.Colorbar at 0x7f6234d38b10&gt;"): "bare object repr",
            "Until December 2026 this project integrated": "project history",
            output("pixel AUC 0.\n8956"): "broken across lines",
            output("{'all_three_best': 'contr\nadicted'}"): "broken across lines",
            "<table><caption>k = 10</caption></table>" * 2: "widget caption shown 2 times",
            "<div class='gcfl-widget-note' style='color:#666'>Widgets on this page ...</div>" * 12: "12 times",
        }
        for body, problem in cases.items():
            found = workbook_pages.machinery_on_page(clean + body)
            assert len(found) == 1 and problem in found[0], (body, found)
        assert "lacks OUTPUT_STYLE" in workbook_pages.machinery_on_page(output("1.5"))[0]
        # Stored widget state is no text on the page.
        assert workbook_pages.machinery_on_page(clean + "<script>" + "<caption>a</caption>" * 3 + "</script>") == []
