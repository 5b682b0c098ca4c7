"""The community RKNPU2 ggml backend (rk-llama.cpp) emulated exactly: its six pipelines and their forks.

Modules, one concept each: :mod:`.pipelines` (the registry of pipeline
records), :mod:`.split` (K segments, N segments per core, M_op),
:mod:`.hadamard` (signs and the fast Walsh–Hadamard transform),
:mod:`.calibration` (the max/percentile/mse and KL amax searches),
:mod:`.options` (the forks, as one frozen record), :mod:`.eligibility`
(which weight types the backend offloads) and :mod:`.emulator`
(:class:`~.emulator.CommunityBackend`, registered as ``rk-community``).
The facts come from the fact sheet on the backend (ORG = ggml-org/llama.cpp
@56c5133b); what could not be confirmed is marked UNCONFIRMED in
:data:`.options.UNCONFIRMED`. Low-rank pipelines (INV e8604563) are not modelled.
"""
