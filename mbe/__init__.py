"""mbe: training-free ANN-to-SNN conversion with Multi-basis Exponential Decay neurons.

Public API (stable): `fit`, `MBENeuron`, `FSNeuron`, `FitConfig`, `config_for`, `TARGETS`.
"""
from .convert import convert
from .fitting import FitConfig, config_for, fit
from .neuron import FSNeuron, MBENeuron, SpikingNeuron
from .targets import TARGETS


def explore(*args, **kwargs):
    """Open the interactive neuron explorer in a notebook: `mbe.explore("gelu", (-6, 6))`.

    Imported on first use (it needs ipywidgets); see `mbe.explorer.Explorer`.
    """
    from .explorer import explore as _explore
    return _explore(*args, **kwargs)


__all__ = ["fit", "FitConfig", "config_for", "MBENeuron", "FSNeuron", "SpikingNeuron",
           "TARGETS", "explore"]
