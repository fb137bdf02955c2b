"""fastwidgets: Jupyter widgets for training neural networks with PyTorch and fastai."""

from .cleaner import ImageCleaner
from .curve import LiveCurve
from .lr_finder import LRFinder, lr_find
from .sgd import SGDPlayground

__all__ = ["ImageCleaner", "LRFinder", "LiveCurve", "SGDPlayground", "lr_find"]
__version__ = "0.1.0"
