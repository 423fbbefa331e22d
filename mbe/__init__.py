"""mbe: training-free ANN-to-SNN conversion with Multi-basis Exponential Decay neurons.

Public API (stable): `fit`, `MBENeuron`, `FSNeuron`, `FitConfig`, `config_for`, `TARGETS`.
"""
from .fitting import FitConfig, config_for, fit
from .neuron import FSNeuron, MBENeuron, SpikingNeuron
from .targets import TARGETS

__all__ = ["fit", "FitConfig", "config_for", "MBENeuron", "FSNeuron", "SpikingNeuron",
           "TARGETS"]
