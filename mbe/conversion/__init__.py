"""Convert a trained model to a spiking one without changing a single weight.

    snn, report = mbe.convert(model, calibration, timesteps=16, mode="mbe")
    snn, report = mbe.convert(model, calibration, config=mbe.ConversionConfig.paper())

`model` is a Hugging Face model (ViT, BERT, RoBERTa, GPT-2, ... by class and configuration),
a timm Vision Transformer (when timm is installed) or a plain torch model (the CNNs of the
paper's Table 1). `calibration` is an iterable of batches as the model takes them (what a
tokenizer or image processor returns, or any mapping of tensors, for Hugging Face models; a
tensor for CNNs). The input model is deep-copied and left
untouched; the copy gets its nonlinear operations swapped for spiking sites.

The steps follow the paper's Algorithm 1:
1. find the sites: modules by class (`hf`, `timm`, `cnn`), attention through transformers'
   registry, and every other nonlinear call by auditing a forward (`functional`); anything
   that cannot be converted raises, naming the module and how to proceed (`keep_float`);
2. calibrate: run the batches, recording every site operand's range ("collect intervals R");
3. build the spiking operators of `mbe.ops` from those ranges (plus a margin);
4. measure the ledger (`ledger.Report`): every site, spiking or float, with its error.

Modes: "exact" (every neuron replaced by its exact function: equals the ANN to float
tolerance), "mbe" (the fitted neurons, fast path) and "spike" (time-stepped simulation; the
same numbers as "mbe", plus spike counts). `set_mode` switches a converted model.

How every primitive is built (T, neuron kind, fitting variant, N per primitive family) is one
`ConversionConfig` (`mbe.ops.config`), passed unchanged to every operator. The report says, per
primitive, what it really is, read from the primitive.

Modules: `converter` (convert, set_mode), `sites`, `calibrate`, `functional` (the audit and
routing of functional calls), `replace` (the site-swapping pass), `ledger` (the report), and
one adapter per model family: `hf`, `timm`, `cnn`.
"""
from ..ops.config import ConversionConfig
from .converter import convert, family_of, set_mode, sites_of
from .ledger import Report
from .sites import ConversionError

__all__ = ["convert", "ConversionConfig", "set_mode", "sites_of", "family_of", "Report",
           "ConversionError"]
