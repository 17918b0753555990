"""The DynamoDB adapters: one module per table (its keys, queries and codec), implementing the
ports the domain declares in :mod:`acd_hub.ports`. Only these modules and the client factory
(:mod:`acd_hub.aws`) import boto3 or botocore."""
