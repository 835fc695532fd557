"""The teaching wing: what the notebooks use and the method does not (as MONAI keeps ``monai/visualize``).

The method (``ops``, ``nn``, ``models``, ``data``, ``metrics``, ``losses``, ``engine``) never imports from here.

- ``context``         :func:`setup`, the first call of every notebook, and what it resolves (device, fast path,
                      data, checkpoint)
- ``fitting``         brief fitting and looking inside a model (:func:`quick_train`, :func:`dissection_fits`,
                      :class:`capture_outputs`)
- ``results``         :func:`record_results` and the committed records notebooks quote (model cards, readings)
- ``notebook_runs``   run folders, reusable synthetic data and Markdown tables of the training notebooks (07, 09, 10)
- ``compare``         classical detectors and networks scored alike on one Fa axis (notebook 10)
- ``prob_cache``      a checkpoint's probability maps on a split, computed once and kept on disk
- ``viz``             plots and overlays; ``widgets`` the ipywidgets panels over library functions;
                      ``widget_snapshot`` their static view in exported pages; ``architecture`` the model drawn
                      from its configuration
- ``pages`` and ``runner``   the HTML pages and the runner, ``python -m gcflnet_lib.workbook run``

A notebook writes ``from gcflnet_lib import workbook`` and calls ``workbook.setup(...)``,
``workbook.record_results(...)``: the names of ``context``, ``fitting`` and ``results`` are the package's face.
The runner and the pages are imported from their modules (they load papermill and nbconvert).
"""

from gcflnet_lib.workbook.context import (
    LAYOUT_FOLDERS, REPO_ROOT, SIRST_CANDIDATES, SIRST_DATASET, SIRST_ENV, WorkbookContext, announce, auto_checkpoint,
    check_checkpoint, check_data_dir, estimate_seconds, find_sirst, format_duration, infer_dataset, known_defects_note,
    resolve_data_dir, resolve_device, resolve_smoke, scores_whole_split, seed_everything, setup, shown_path,
    warn_full_size_on_cpu,
)
from gcflnet_lib.workbook.fitting import (
    QuickFit, capture_outputs, crop_batch, dissection_checkpoints, dissection_fits, forward_captured, load_samples,
    load_trained_model, model_for_notebook, quick_train, samples_with_targets, training_step,
)
from gcflnet_lib.workbook.results import (
    RecordedResults, gpu_training_records, load_results, measured_readings, model_card_metrics, record_results,
)

__all__ = [
    "LAYOUT_FOLDERS", "REPO_ROOT", "SIRST_CANDIDATES", "SIRST_DATASET", "SIRST_ENV", "WorkbookContext", "announce",
    "auto_checkpoint", "check_checkpoint", "check_data_dir", "estimate_seconds", "find_sirst", "format_duration",
    "infer_dataset", "known_defects_note", "resolve_data_dir", "resolve_device", "resolve_smoke", "scores_whole_split",
    "seed_everything", "setup", "shown_path", "warn_full_size_on_cpu",
    "QuickFit", "capture_outputs", "crop_batch", "dissection_checkpoints", "dissection_fits", "forward_captured",
    "load_samples", "load_trained_model", "model_for_notebook", "quick_train", "samples_with_targets", "training_step",
    "RecordedResults", "gpu_training_records", "load_results", "measured_readings", "model_card_metrics",
    "record_results",
]
