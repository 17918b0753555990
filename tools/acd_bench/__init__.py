"""``make bench`` and ``make load``: what the hub costs next to bare baselines measured in the
same run, and the local stack under load. A developer tool beside the product.

* ``bench`` — ``make bench``'s command line; ``report`` — its table and ``docs/bench.md``.
* The measurements: ``ingest_warm`` (1), ``cold_start`` (2), ``aggregation`` (3, 5),
  ``local_e2e`` (4, its load from ``clients``), ``deployment`` (6), ``scaling`` (7).
* What they share: ``harness`` (environment, medians, child processes), ``dynamo`` (a stubbed
  client, request and item counts, item sizes), ``bare`` (the baseline handler), ``replay`` (a
  day stored in in-process moto and its stream through the aggregators).
* ``load`` — ``make load``.
"""
