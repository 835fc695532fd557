"""gcflnet_lib: GCFLNet (gradient-compensated feature learning network) for infrared small target detection.

Layout (one small module per concept of the paper):

- ``errors``, ``files``, ``provenance``  the ground floor: one-line errors, atomic file output, run records
- ``ops``        pure functions: image gradients, Sobel, central differences, gradient convergence
- ``nn``         one ``nn.Module`` per paper concept: EFEU, CDC, EEM, GLFI, MSIC, residual blocks
- ``models``     GCFLNet with ablation switches, the U-Net baseline, ``build_model`` registry
- ``data``       synthetic generator, standard-layout folder dataset, transforms
- ``metrics``    mIoU, nIoU, Pd, Fa, ROC/AUC (BasicIRSTD protocol)
- ``losses``     SoftIoU with deep supervision
- ``engine``     training / evaluation loop, atomic checkpoints, distributed helpers, the experiment runner
- ``classical``  Top-Hat, Max-Median, TLLCM, WSLCM, IPI, RIPT
- ``ablation``   the paper's ablation: plans, notebook 09's sweep, the queues' analysis and report
- ``workbook``   the teaching wing: what only the notebooks use (setup, brief fitting, plots, widgets, the runner)
- ``cli``, ``commands``   the ``gcflnet`` command, one module per sub-command

Floors and the rule between them: docs/ARCHITECTURE.md, "Layers" (``tests/test_layers.py`` checks them).
"""

__version__ = "0.1.0"
