"""What tools and tests share: the Lambda events and context builders, the template reader,
sample events, the OpenAPI generator and the ``sam local`` check. A developer tool beside the
product."""
