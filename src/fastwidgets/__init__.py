"""fastwidgets: Jupyter widgets for training neural networks with PyTorch and fastai."""

from .curve import LiveCurve

__all__ = ["LiveCurve"]
__version__ = "0.1.0"
