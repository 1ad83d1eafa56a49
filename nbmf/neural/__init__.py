"""The neural codec: an integer-exact context-mixing model of a domain with a neural predictor.

See docs/NEURAL.md for the design and the measured results.
"""
