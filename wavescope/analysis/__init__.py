"""Analysis of activities that follow the data model: phase, waves, flow, spectra, decoding.

Nothing here knows whether its input came from a network or a brain.
"""
