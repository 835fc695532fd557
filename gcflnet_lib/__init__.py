"""gcflnet_lib: GCFLNet (gradient-compensated feature learning network) for infrared small target detection.

Layout (one small module per concept of the paper):

- ``errors``, ``files``, ``provenance``  the ground floor: one-line errors, atomic file output, run records
- ``ops``        pure functions: image gradients, Sobel, central differences, gradient convergence
- ``nn``         one ``nn.Module`` per paper concept: EFEU, CDC, EEM, GLFI, MSIC, residual blocks
- ``models``     GCFLNet with ablation switches, the U-Net baseline, ``build_model`` registry
- ``data``       synthetic generator, standard-layout folder dataset, transforms
- ``metrics``    mIoU, nIoU, Pd, Fa, ROC/AUC (BasicIRSTD protocol)
- ``losses``     SoftIoU with deep supervision
- ``engine``     training / evaluation loop, atomic checkpoints, distributed helpers
- ``classical``  Top-Hat, Max-Median, TLLCM, WSLCM, IPI, RIPT
- ``viz``        plots, overlays, widgets
- ``cli``        the ``gcflnet`` command
"""

__version__ = "0.1.0"
