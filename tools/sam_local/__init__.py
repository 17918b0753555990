"""`make sam-local-test`: the template under the SAM CLI's own `sam local` (run.sh), and the check it
runs (:mod:`sam_local.check`)."""
