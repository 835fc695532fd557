"""Training and evaluation engine: the loop, device-side data, evaluation protocol, checkpoints, DDP.

- ``config``      ``TrainConfig`` (the paper's settings as defaults) and the multi-step lr factor
- ``trainer``     ``train(config)``: SoftIoU + deep supervision, AdamW, checkpoints, history, last-epoch result
- ``pipeline``    ``DeviceTrainSet``: the split decoded once, cropped and flipped on the training device
- ``evaluation``  ``evaluate_model`` / ``predict_probabilities``: full images, pad to 32, crop back
- ``checkpoint``  atomic ``save_checkpoint``, safe ``load_checkpoint``, ``load_model_from_checkpoint``
- ``distributed`` torchrun/DDP helpers (NCCL on GPU, gloo on CPU, synchronised BatchNorm)
- ``device``      device resolution and seeding
- ``bench``       throughput, FLOPs and utilisation figures for ``gcflnet bench``
"""

from gcflnet_lib.engine.checkpoint import load_checkpoint, load_model_from_checkpoint, save_checkpoint
from gcflnet_lib.engine.config import TrainConfig
from gcflnet_lib.engine.evaluation import evaluate_model, predict_probabilities
from gcflnet_lib.engine.trainer import NonFiniteLossError, train

__all__ = [
    "NonFiniteLossError",
    "TrainConfig",
    "evaluate_model",
    "load_checkpoint",
    "load_model_from_checkpoint",
    "predict_probabilities",
    "save_checkpoint",
    "train",
]
