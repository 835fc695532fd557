"""Where each measured ablation lives: its dataset, CPU recipe, cross-dataset score, files and anchors.

The paper ablates on NUDT-SIRST (Section 4.4, Table 2); the same 2x2x2 factorial on NUAA-SIRST tells whether a
module's effect holds beyond one set. Both are trained by ``scripts/ablation_queue.py --dataset NAME`` and
analysed by ``scripts/ablation_report.py --dataset NAME``, which read everything dataset-specific from here:

- ``preset``: the ``gcflnet train`` recipe (``gcflnet_lib.engine.presets``); both have about 2600 optimizer steps;
- ``cross_dataset``: the other set, whose test split scores each run's final weights right after it ends;
- ``beside``: baselines trained beside the eight variants (``unet_wide``: GCFLNet's size, "better" or "bigger");
- ``key``: the file names, ``results/ablation_KEY/`` (records), ``results/ablation_KEY_replicas/`` (runs trained
  again with the same seed), ``results/ablation_KEY.json`` (analysis),
  ``results/plots/ablation_KEY.png`` and the ``<!-- ablation[-KEY]:begin -->`` blocks of the docs;
- ``anchors``: figures to read the table beside, either published (typed here with their source) or this
  project's own full-width records (``anchor_records``, read when the report is written).
"""

from __future__ import annotations

from dataclasses import dataclass

# Published figures on NUDT-SIRST (IoU %, Pd %, Fa x1e-6), from full-width models trained 400 to 1500 epochs.
NUDT_ANCHORS = (
    {"source": "GCFLNet paper, Table 1 (GCFLNet)", "iou": 86.49, "pd": 98.60, "fa": 4.17},
    {"source": "DNANet's README (DNANet, github.com/YeRen123455/Infrared-Small-Target-Detection)", "iou": 87.09,
     "pd": 98.73, "fa": 4.22},
    {"source": "BasicIRSTD's re-run of DNANet (github.com/XinyiYing/BasicIRSTD)", "iou": 94.19, "pd": 99.26, "fa": 2.44},
)


@dataclass(frozen=True)
class AblationPlan:
    dataset: str
    key: str
    preset: str
    env: str  # the environment variable that names the dataset's folder
    cross_dataset: str
    cross_key: str  # the record's ``cross`` entry (the other plan's key)
    cross_env: str
    beside: tuple[str, ...] = ()
    anchors: tuple[dict, ...] = ()
    anchor_records: tuple[tuple[str, str], ...] = ()  # (source, results file) of this project's own runs
    anchors_note: str = ""
    steps_per_epoch: int = 41  # full batches of 16 of the training split (drop_last): NUDT-SIRST 663 // 16


    @property
    def records(self) -> str:
        return f"results/ablation_{self.key}"

    @property
    def replicas(self) -> str:
        """Runs of the factorial trained a second time with the same seed (``ablation_queue.py --replicate``)."""
        return f"results/ablation_{self.key}_replicas"

    def reading_records(self, msic_reading: str) -> str:
        """The four MSIC cells trained with another MSIC reading (``ablation_queue.py --msic-reading NAME``)."""
        return f"results/ablation_{self.key}_msic_{msic_reading}"

    def reading_analysis(self, msic_reading: str) -> str:
        """The side-by-side analysis of ``msic_reading`` against ``crossed`` (``ablation_report.py --msic-reading``)."""
        return f"results/ablation_{self.key}_msic_{msic_reading}.json"

    @property
    def gate_figure(self) -> str:
        """The skip gate over training, every run that logged its skip health."""
        return f"results/plots/msic_gate_{self.key}.png"

    @property
    def msic_markers(self) -> tuple[str, str]:
        return f"<!-- ablation-msic-{self.key}:begin -->", f"<!-- ablation-msic-{self.key}:end -->"

    @property
    def analysis(self) -> str:
        return f"results/ablation_{self.key}.json"

    @property
    def figure(self) -> str:
        return f"results/plots/ablation_{self.key}.png"

    @property
    def markers(self) -> tuple[str, str]:
        # NUDT-SIRST's block kept its first name, so that links and notebook 09 stay as they were.
        tag = "ablation" if self.key == "nudt" else f"ablation-{self.key}"
        return f"<!-- {tag}:begin -->", f"<!-- {tag}:end -->"

    @property
    def docs(self) -> tuple[str, ...]:
        """The documents that hold the generated block: the ablations' one home (the README summarises it)."""
        return ("docs/ABLATION.md",)


PLANS: dict[str, AblationPlan] = {
    "NUDT-SIRST": AblationPlan(
        "NUDT-SIRST", "nudt", "cpu-nudt", "GCFLNET_NUDT", "NUAA-SIRST", "nuaa", "GCFLNET_SIRST",
        beside=("unet_wide",), anchors=NUDT_ANCHORS,
        anchors_note="Published figures on NUDT-SIRST, as anchors: they come from full-width models trained for 400 "
                     "to 1500 epochs on a GPU, not from this CPU recipe (widths 8..128, about 2600 steps), so they "
                     "bound what the recipe can reach rather than check it:"),
    "NUAA-SIRST": AblationPlan(
        "NUAA-SIRST", "nuaa", "cpu", "GCFLNET_SIRST", "NUDT-SIRST", "nudt", "GCFLNET_NUDT", steps_per_epoch=13,
        anchor_records=(("this project, GCFLNet, widths 16..256, 400 epochs, H200, seed 0", "results/gpu_nuaa_gcflnet_s0.json"),
                        ("this project, U-Net, widths 16..256, 400 epochs, H200, seed 0", "results/gpu_nuaa_unet_s0.json")),
        anchors_note="The paper reports no NUAA-SIRST figures. As anchors, this project's own full-width runs on "
                     "NUAA-SIRST (read from their records): widths 16..256 on 256x256 crops for 400 epochs on a GPU, "
                     "against this CPU recipe's widths 8..128 on 128x128 crops for 200 epochs, with one seed each:"),
}


def plan_for(dataset: str) -> AblationPlan:
    """The plan of ``dataset`` (a key of :data:`PLANS`); ValueError naming the known ones otherwise."""
    try:
        return PLANS[dataset]
    except KeyError:
        raise ValueError(f"no ablation plan for dataset {dataset!r}; known: {', '.join(PLANS)}") from None
