"""``make bench``: the performance benchmark (not collected by pytest; no ``test_*`` files here).

``python -m tests.bench.run`` starts every server under test as its own subprocess on loopback,
drives it from a separate load-generator process (:mod:`tests.bench.loadgen`) and rewrites the
results section of ``docs/performance.md``.
"""
