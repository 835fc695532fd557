"""A static HTML view of a widget as an executed notebook stored it, for pages read without a kernel.

papermill (nbclient) stores every widget's state in the executed notebook (``metadata.widgets``); an
nbconvert page renders it with ``@jupyter-widgets/html-manager`` loaded from a CDN. Offline, or where the
CDN is blocked, that leaves an empty box. ``add_widget_snapshots`` puts, after each widget output, the same
widget drawn in plain HTML from its stored state: boxes as rows and columns, sliders and dropdowns with their
description and value, HTML and Label text, and the images and HTML an ``Output`` widget holds (the figure
of ``ThresholdExplorer`` and the classical-method explorer). A style rule hides the snapshot wherever the
html-manager did render the live widget, so a page online shows the widget once.

    snapshot_html(state, model_id) -> str     # pure: stored state in, HTML out
    add_widget_snapshots(notebook) -> int     # in place, before nbconvert; returns how many it added
"""

from __future__ import annotations

import html
import re
from typing import Any, Mapping

import nbformat

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
SNAPSHOT_CLASS = "gcfl-widget-snapshot"
# Rendered ipywidgets views are Lumino widgets (``lm-Widget``; ``p-Widget`` before ipywidgets 8).
HIDE_WHEN_RENDERED = (
    f"<style>.jp-OutputArea-child:has(.lm-Widget, .p-Widget) + .jp-OutputArea-child .{SNAPSHOT_CLASS}"
    " {display: none}</style>"
)
_REFERENCE = "IPY_MODEL_"


def _model(state: Mapping[str, Any], reference: str) -> dict | None:
    entry = state.get(reference.removeprefix(_REFERENCE))
    return entry if isinstance(entry, dict) else None


def _label(text: Any) -> str:
    return f"<span style='margin-right:0.5em'>{html.escape(str(text))}</span>" if text else ""


def _output_html(output: Mapping[str, Any]) -> str:
    data = output.get("data", {}) if output.get("output_type") in ("display_data", "execute_result") else {}
    if "image/png" in data:
        return f"<img alt='{html.escape(str(data.get('text/plain', 'figure')))}' src='data:image/png;base64,{data['image/png']}'/>"
    if "text/html" in data:
        value = data["text/html"]
        return "".join(value) if isinstance(value, list) else str(value)
    text = output.get("text") if output.get("output_type") == "stream" else data.get("text/plain")
    if text:
        return f"<pre>{html.escape(''.join(text) if isinstance(text, list) else str(text))}</pre>"
    return ""


def _progress_html(values: Mapping[str, Any]) -> str:
    return f"<progress value='{values.get('value', 0)}' max='{values.get('max', 1)}'></progress>"


def _tqdm_bar(children: list[dict | None]) -> tuple[dict, dict, dict] | None:
    """The (left text, bar, right text) states of a tqdm.notebook bar (an HBox of HTML, FloatProgress, HTML), or None."""
    names = [(child or {}).get("model_name") for child in children]
    if names != ["HTMLModel", "FloatProgressModel", "HTMLModel"]:
        return None
    return tuple(child.get("state", {}) for child in children)


def _tqdm_html(left: Mapping[str, Any], bar: Mapping[str, Any], right: Mapping[str, Any]) -> str:
    """A tqdm bar at its final count. The bar's value is stored as the run left it, but its texts are not:
    tqdm refreshes them at most every ``mininterval`` and not at all when a ``leave=False`` bar closes, so
    a fast loop's texts still read "0% 0/6". Both texts are rebuilt from the bar's value and maximum."""
    done, total = bar.get("value") or 0, bar.get("max") or 0
    percent = f"{100 * done / total:.0f}%" if total else ""
    label = re.sub(r"[\s\u2007]*\d+%\s*$", "", str(left.get("value", "")))  # tqdm's label, without its stale percentage
    count = f"{done:g}/{total:g}" if total else f"{done:g}"
    unit = re.search(r"\?([^\s\u2007\]]+)/s\]", str(right.get("value", "")))  # the unit of "[..., ?img/s]"
    text = f"{label} {percent}".strip()
    return (f"<div style='display:flex;gap:0.5em;align-items:center'><span>{text}</span>{_progress_html(bar)}"
            f"<span>{count}{' ' + unit.group(1) if unit else ''}</span></div>")


def _render(state: Mapping[str, Any], entry: Mapping[str, Any], depth: int) -> str:
    if depth > 32:  # a stored state is a tree; a cycle would be a corrupt file
        return ""
    name, values = entry.get("model_name", ""), entry.get("state", {})
    layout = _model(state, values.get("layout", "")) or {}
    if (layout.get("state") or {}).get("display") == "none":
        return ""
    if name in ("VBoxModel", "HBoxModel", "BoxModel", "GridBoxModel"):
        children = [_model(state, ref) for ref in values.get("children", [])]
        tqdm_bar = _tqdm_bar(children) if name == "HBoxModel" else None
        if tqdm_bar:
            return _tqdm_html(*tqdm_bar)
        inner = "".join(_render(state, child, depth + 1) for child in children if child)
        direction = "row" if name == "HBoxModel" else "column"
        return f"<div style='display:flex;flex-direction:{direction};gap:0.5em;flex-wrap:wrap'>{inner}</div>"
    if name == "OutputModel":
        return "<div>" + "".join(_output_html(o) for o in values.get("outputs", [])) + "</div>"
    if name in ("HTMLModel", "HTMLMathModel"):
        return f"<div>{_label(values.get('description'))}{values.get('value', '')}</div>"
    if name == "LabelModel":
        return f"<div>{html.escape(str(values.get('value', '')))}</div>"
    if name.endswith("SliderModel") or name in ("DropdownModel", "ToggleButtonsModel", "RadioButtonsModel",
                                                "CheckboxModel", "BoundedFloatTextModel", "BoundedIntTextModel",
                                                "FloatTextModel", "IntTextModel", "TextModel", "SelectModel"):
        value = values.get("value")
        if "_options_labels" in values and isinstance(values.get("index"), int):
            labels = values["_options_labels"]
            value = labels[values["index"]] if 0 <= values["index"] < len(labels) else value
        if isinstance(value, float):
            value = f"{value:.4g}"
        return f"<div>{_label(values.get('description'))}<b>{html.escape(str(value))}</b></div>"
    if name in ("FloatProgressModel", "IntProgressModel"):
        return f"<div>{_label(values.get('description'))}{_progress_html(values)}</div>"
    if name == "ButtonModel":
        return f"<div><button disabled>{html.escape(str(values.get('description', '')))}</button></div>"
    return ""


def snapshot_html(state: Mapping[str, Any], model_id: str) -> str:
    """The widget ``model_id`` of a stored widget state (``metadata.widgets[...]["state"]``) as static HTML.

    Returns "" when the state does not hold the model.
    """
    entry = _model(state, model_id)
    if entry is None:
        return ""
    return _render(state, entry, 0)


# The caption under a snapshot: once per page, under the first widget a reader could move (a finished progress bar
# needs none), so that a page with a dozen training bars does not repeat it a dozen times.
SNAPSHOT_NOTE_CLASS = "gcfl-widget-note"
SNAPSHOT_NOTE = (f"<div class='{SNAPSHOT_NOTE_CLASS}' style='color:#666;font-size:85%'>Widgets on this page are shown "
                 "as the run left them (static views; open the notebook to move them).</div>")


def is_progress_bar(state: Mapping[str, Any], model_id: str) -> bool:
    """True when the widget ``model_id`` is a tqdm.notebook progress bar (an HBox of HTML, FloatProgress, HTML)."""
    entry = _model(state, model_id) or {}
    if entry.get("model_name") != "HBoxModel":
        return False
    return _tqdm_bar([_model(state, ref) for ref in entry.get("state", {}).get("children", [])]) is not None


def add_widget_snapshots(notebook: Any) -> int:
    """After every widget output of ``notebook`` (an nbformat node), add its snapshot as an HTML output; the
    first snapshot of a widget that is not a progress bar carries :data:`SNAPSHOT_NOTE`, once per page.

    Does nothing where the notebook stores no widget state. Returns the number of snapshots added.
    """
    stored = (notebook.metadata.get("widgets") or {}).get(WIDGET_STATE) or {}
    state = stored.get("state") or {}
    added, noted = 0, False
    for cell in notebook.cells:
        if cell.cell_type != "code" or not state:
            continue
        outputs = []
        for output in cell.get("outputs", []):
            outputs.append(output)
            view = output.get("data", {}).get(WIDGET_VIEW) if output.get("output_type") in ("display_data", "execute_result") else None
            body = snapshot_html(state, view.get("model_id", "")) if isinstance(view, dict) else ""
            if body:
                note = ""
                if not noted and not is_progress_bar(state, view.get("model_id", "")):
                    note, noted = SNAPSHOT_NOTE, True
                outputs.append(nbformat.v4.new_output(
                    "display_data", data={"text/html": f"{HIDE_WHEN_RENDERED}<div class='{SNAPSHOT_CLASS}'>{body}{note}</div>"}))
                added += 1
        cell.outputs = outputs
    return added
