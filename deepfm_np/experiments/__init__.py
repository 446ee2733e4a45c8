"""Experiments on top of the library: the synthetic teacher world, the demo, the paper's Table 2 and Section 3.3 studies."""
