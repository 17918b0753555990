"""``make bench`` and ``make load``: what the hub costs next to bare baselines measured in the
same run, and the local stack under load. A developer tool beside the product."""
