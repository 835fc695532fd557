"""gcflnet_lib.workbook.widget_snapshot: the static view of a stored widget, and its place in exported pages."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import nbformat
import pytest
from ipywidgets.embed import embed_data

from gcflnet_lib.workbook import pages
from gcflnet_lib.workbook.widgets import ThresholdExplorer
from gcflnet_lib.workbook.widget_snapshot import SNAPSHOT_CLASS, WIDGET_STATE, WIDGET_VIEW, add_widget_snapshots, snapshot_html
from tests.test_widgets import _maps


@pytest.fixture
def explorer():
    probs, masks = _maps()
    return ThresholdExplorer(probs, masks, threshold=0.65)


def stored(widget) -> tuple[dict, str]:
    """The widget's state as papermill stores it (model id -> model), and its model id."""
    data = embed_data(views=[widget])
    return data["manager_state"]["state"], widget.model_id


def executed_notebook(widget) -> nbformat.NotebookNode:
    state, model_id = stored(widget)
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("explorer")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        WIDGET_VIEW: {"model_id": model_id, "version_major": 2, "version_minor": 0}, "text/plain": "VBox(...)"})]
    notebook.cells = [cell]
    notebook.metadata["widgets"] = {WIDGET_STATE: {"state": state, "version_major": 2, "version_minor": 0}}
    return notebook


class TestSnapshotHtml:
    def test_explorer_shows_its_sliders_figure_and_statistics(self, explorer):
        state, model_id = stored(explorer.widget)
        page = snapshot_html(state, model_id)
        assert "threshold" in page and "<b>0.65</b>" in page and "min size" in page
        assert f"src='data:image/png;base64,{explorer.figure_output.outputs[0]['data']['image/png']}'" in page
        assert explorer.stats_html.value in page  # the Pd / Fa / IoU table as the run left it
        assert page.count("flex-direction:row") == 2 and page.count("flex-direction:column") == 1

    def test_a_hidden_child_is_left_out(self):
        import ipywidgets as widgets

        shown = widgets.IntSlider(value=4, description="shown")
        hidden = widgets.IntSlider(value=9, description="hidden", layout=widgets.Layout(display="none"))
        state, model_id = stored(widgets.HBox([shown, hidden]))
        page = snapshot_html(state, model_id)
        assert "shown" in page and "<b>4</b>" in page and "hidden" not in page

    def test_dropdown_shows_the_chosen_label(self):
        import ipywidgets as widgets

        state, model_id = stored(widgets.Dropdown(options=["tophat", "ipi", "mpcm"], value="ipi", description="method"))
        assert "<b>ipi</b>" in snapshot_html(state, model_id)

    def test_text_is_escaped_and_an_unknown_model_gives_nothing(self):
        import ipywidgets as widgets

        state, model_id = stored(widgets.Label(value="<b>x</b>"))
        assert "&lt;b&gt;x&lt;/b&gt;" in snapshot_html(state, model_id)
        assert snapshot_html(state, "0" * 32) == ""


class TestPages:
    def test_snapshot_follows_each_widget_output(self, explorer):
        notebook = executed_notebook(explorer.widget)
        assert add_widget_snapshots(notebook) == 1
        widget_output, snapshot = notebook.cells[0].outputs
        assert WIDGET_VIEW in widget_output["data"]
        assert SNAPSHOT_CLASS in snapshot["data"]["text/html"] and "<b>0.65</b>" in snapshot["data"]["text/html"]

    def test_a_notebook_without_widget_state_is_unchanged(self, explorer):
        notebook = executed_notebook(explorer.widget)
        del notebook.metadata["widgets"]
        assert add_widget_snapshots(notebook) == 0 and len(notebook.cells[0].outputs) == 1

    def test_exported_page_holds_the_live_widget_and_its_snapshot(self, explorer, tmp_path):
        path = tmp_path / "n.ipynb"
        nbformat.write(executed_notebook(explorer.widget), path)
        html = pages.export_html(path, tmp_path / "n.html", None).read_text()
        assert 'type="application/vnd.jupyter.widget-view+json"' in html  # rendered live where the CDN loads
        assert f'class="{SNAPSHOT_CLASS}"' in html and explorer.figure_output.outputs[0]["data"]["image/png"][:200] in html
        assert nbformat.read(path, as_version=4).cells[0].outputs.__len__() == 1  # the executed notebook is left alone


class TestProgressBars:
    def test_a_tqdm_bar_shows_its_final_count_not_its_first_view(self):
        """A fast ``leave=False`` loop, as papermill stored it from notebook 10: tqdm's texts still at their first
        view ("0% 0/6", never refreshed), the bar's value at its end; the snapshot reads the count from the bar."""
        import ipywidgets as widgets

        stale = widgets.HBox([widgets.HTML("tophat:\u2007\u2007\u20070%"), widgets.FloatProgress(value=6.0, max=6.0),
                              widgets.HTML("\u20070/6\u2007[00:00&lt;?,\u2007?img/s]")])
        state, model_id = stored(stale)
        page = snapshot_html(state, model_id)
        assert "tophat: 100%" in page and "6/6 img" in page and "0/6" not in page and "\u20070%" not in page
        assert "<progress value='6.0' max='6.0'>" in page

    def test_a_progress_bar_alone_is_drawn(self):
        import ipywidgets as widgets

        state, model_id = stored(widgets.IntProgress(value=3, max=4, description="epochs"))
        assert "epochs" in snapshot_html(state, model_id) and "<progress value='3' max='4'>" in snapshot_html(state, model_id)


def test_the_static_view_note_appears_once_and_never_under_a_progress_bar(explorer):
    """09 and 10 train and score behind a dozen tqdm bars: each snapshot used to carry the same caption. The note
    that widgets are static views comes once, under the first widget a reader could move."""
    import ipywidgets as widgets

    from gcflnet_lib.workbook.widget_snapshot import SNAPSHOT_NOTE, is_progress_bar

    bars = [widgets.HBox([widgets.HTML(f"run {i}: 100%"), widgets.FloatProgress(value=4, max=4), widgets.HTML("4/4")])
            for i in range(12)]
    slider = widgets.IntSlider(value=2, description="k")
    data = embed_data(views=[*bars, explorer.widget, slider])
    state = data["manager_state"]["state"]
    assert is_progress_bar(state, bars[0].model_id) and not is_progress_bar(state, explorer.widget.model_id)
    notebook = nbformat.v4.new_notebook()
    for widget in (*bars, explorer.widget, slider):
        cell = nbformat.v4.new_code_cell("w")
        cell.outputs = [nbformat.v4.new_output("display_data", data={
            WIDGET_VIEW: {"model_id": widget.model_id, "version_major": 2, "version_minor": 0}, "text/plain": "w"})]
        notebook.cells.append(cell)
    notebook.metadata["widgets"] = {WIDGET_STATE: {"state": state, "version_major": 2, "version_minor": 0}}
    assert add_widget_snapshots(notebook) == 14
    snapshots = [cell.outputs[1]["data"]["text/html"] for cell in notebook.cells]
    assert [SNAPSHOT_NOTE in html for html in snapshots] == [False] * 12 + [True, False]
