"""``acd-local``: the whole hub on one machine, with no AWS. A moto server stands in for
DynamoDB, its streams and SNS; the callback endpoint is a real HTTP server; the stream consumers
run the functions' own handlers. A developer tool beside the product, not part of it."""
