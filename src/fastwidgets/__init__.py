"""fastwidgets: Jupyter widgets for training neural networks with PyTorch and fastai."""

from .cleaner import ImageCleaner
from .curve import LiveCurve
from .lr_finder import LRFinder, lr_find

__all__ = ["ImageCleaner", "LRFinder", "LiveCurve", "lr_find"]
__version__ = "0.1.0"
