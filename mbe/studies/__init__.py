"""The paper's experiments as functions the notebooks call; each returns records (plain dicts).

    neuron       appendix Tables X and VII, EDI, GSO, what each fit option buys (notebook 01)
    accuracy     operator errors on uniform and real inputs (notebook 02)
    operators    the operator study: errors vs T, Fig. 6(a), Table XI firing rates, energy
    composite    a composite operator's error, primitive by primitive, as steps are added
    activations  what the real all-MiniLM-L6-v2 feeds its nonlinearities (forward hooks)
    embeddings   converted text encoders against the ANN on real sentences (notebook 03)
    energy       Eq. 14's operation counting and pricing, every ambiguous convention named
    tour         the steps of the teaching tour (notebook 00)
"""
