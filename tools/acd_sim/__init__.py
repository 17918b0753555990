"""``acd-sim``: a simulated call-center day sent as callbacks, and its independently computed
ground truth (what the reports must say). A developer tool beside the product."""
