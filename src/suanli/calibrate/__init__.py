"""Measure the machine at hand: micro-benchmarks (`probe`), real inference runs (`runner`), and efficiency factors
fitted to them (`fit`), so a prediction for this machine can be checked against what it really does.

`localchip` (detection, file locations, the probed chip entry) is light and imported by the catalog; everything
that needs torch or transformers (the `local` extra) is imported only when a command runs.
"""
