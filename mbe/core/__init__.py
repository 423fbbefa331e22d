"""The neuron and everything it needs; nothing here knows about operators or models.

    dynamics    Eqs. 5-8 as pure functions of plain tensors (the reference simulation)
    neuron      `MBENeuron` (Eq. 4 kernels) and `FSNeuron` (Eqs. 1-3): thin nn.Modules
    staircase   the exact fast path: a neuron's output as a precomputed staircase in x
    simulator   the T-step simulation over whole tensors (spike mode's engine, in C)
    fitting     `fit`: the paper's recipe and the best variant, one `FitConfig`
    registry    fitted neurons cached on disk under everything that determines them
    identity    the identity encoder MBE_Id (Eqs. 9-10), fixed, not fitted
    targets     the scalar functions a neuron approximates
    analysis    a neuron's error per basis and per time step, as data
"""
