"""``acd-sim``: a simulated call-center day sent as callbacks, and its independently computed
ground truth (what the reports must say). A developer tool beside the product.

* The day: ``model`` (what it is made of), ``engine`` (the discrete-event simulation the parts
  share), ``agents``, ``inbound``, ``dialer``, ``office``; ``day.generate_day`` puts them together.
* Sending it: ``plan`` (order, duplicates, methods), ``sender`` (HTTP); ``sim`` is the command line.
* ``truth`` — what the reports must say, from the parameters alone (no ``acd_hub`` import).
"""
