"""Write ``pre_readings_reference.pt``: what the models computed before the readings became switches.

Run once at commit 5339b68 (before issue 14), from the repository root:

    PYTHONPATH=. python tests/data/make_pre_readings_reference.py

The file holds, for every one of the 8 ablation variants at widths (4, 8, 16) built after
``torch.manual_seed(0)``: its state_dict keys and its eval-mode output on a fixed (1, 1, 20, 28) input
(``torch.manual_seed(1)``; 20 x 28 is not a multiple of 4, so the model's padding is exercised). It
also holds a checkpoint of the full model as ``save_checkpoint`` wrote it then (``model_config``
without the keys issue 14 added and with ``attention`` instead of ``glfi_attention``).
``tests/test_readings.py`` checks that today's defaults rebuild the same models and outputs.
"""

from __future__ import annotations

from pathlib import Path

import torch

from gcflnet_lib.engine.checkpoint import save_checkpoint
from gcflnet_lib.models import build_model, list_models

CHANNELS = (4, 8, 16)
HERE = Path(__file__).resolve().parent


def main() -> None:
    torch.manual_seed(1)
    x = torch.randn(1, 1, 20, 28)
    variants = {}
    for name in list_models():
        torch.manual_seed(0)
        model = build_model(name, channels=CHANNELS).eval()
        with torch.no_grad():
            output = model(x)
        variants[name] = {"keys": list(model.state_dict()), "output": output, "config": model.config}
    torch.manual_seed(0)
    model = build_model("gcflnet", channels=CHANNELS).eval()
    path = HERE / "pre_readings_checkpoint.pt"
    save_checkpoint(path, {"model": model.state_dict(), "model_config": model.config, "epoch": 0,
                            "norm": {"mean": 0.0, "std": 1.0}, "dataset": "synthetic"})
    torch.save({"channels": list(CHANNELS), "input": x, "variants": variants}, HERE / "pre_readings_reference.pt")


if __name__ == "__main__":
    main()
