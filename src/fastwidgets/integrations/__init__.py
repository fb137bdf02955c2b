"""Trainer adapters: fastai callbacks (fastai.py); plain PyTorch loops call widgets directly."""
