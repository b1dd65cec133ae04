"""``pytest benchmarks``: latency, memory and gallery-search tables for every artifact the toolchain ships.

Every artifact runs through ``petface_edge.runtime.backends.open_backend`` and
``runtime.contract`` (the one way the project runs models); figures are reported
side by side with ratios and a same-run SGEMM peak, because absolute times move
from machine to machine. See ``benchmarks/conftest.py`` for the options.
"""
