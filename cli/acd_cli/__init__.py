"""The operator CLIs, part of the product: ``acd-report`` (reports, pictures, wallboard) and
``acd-admin`` (replay, redrive, rebuild). They read the tables the Lambda functions write, on AWS
or on the local stack; nothing here ships to Lambda."""
