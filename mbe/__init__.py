"""mbe: training-free ANN-to-SNN conversion with Multi-basis Exponential Decay neurons.

Public API (stable), everything `from mbe import *` gives:

    fit, FitConfig, config_for       fit a neuron to a scalar function (cached on disk)
    MBENeuron, FSNeuron, SpikingNeuron, identity_encoder, TARGETS
    Activation, Softmax, LayerNorm, Multiply, MODES        the spiking operators
    convert, ConversionConfig, set_mode, sites_of, Report, ConversionError
    explore, explore_operator        the interactive explorers (need ipywidgets)

The layers, each importing only from those listed before it: `paper`, `records`, `paths`,
`ranges` (data and small utilities), `native` (compiled loops), `core` (the neuron), `ops`
(spiking operators), `conversion` (whole models), `data` (the data sets of the tables),
`studies` (the paper's experiments, stand-in models, table rows), `viz` (figures, explorer,
RESULTS.md). Each is a subpackage: `import mbe.conversion`.
"""
from .conversion import ConversionConfig, ConversionError, Report, convert, set_mode, sites_of
from .core.fitting import FitConfig, config_for, fit
from .core.identity import identity_encoder
from .core.neuron import FSNeuron, MBENeuron, SpikingNeuron
from .core.targets import TARGETS
from .ops import MODES, Activation, LayerNorm, Multiply, Softmax


def explore(*args, **kwargs):
    """Open the interactive neuron explorer in a notebook: `mbe.explore("gelu", (-6, 6))`.

    Imported on first use (it needs ipywidgets); see `mbe.viz.explorer.Explorer`.
    """
    from .viz.explorer import explore as _explore
    return _explore(*args, **kwargs)


def explore_operator(*args, **kwargs):
    """Open the softmax / LayerNorm explorer: `mbe.explore_operator("softmax")`.

    Imported on first use (it needs ipywidgets); see `mbe.viz.explorer.OperatorExplorer`.
    """
    from .viz.explorer import explore_operator as _explore_operator
    return _explore_operator(*args, **kwargs)


__all__ = ["fit", "FitConfig", "config_for", "MBENeuron", "FSNeuron", "SpikingNeuron",
           "identity_encoder", "TARGETS", "Activation", "Softmax", "LayerNorm", "Multiply",
           "MODES", "convert", "ConversionConfig", "set_mode", "sites_of", "Report",
           "ConversionError", "explore", "explore_operator"]
