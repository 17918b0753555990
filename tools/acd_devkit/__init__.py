"""What tools and tests share: the template reader, sample events (API Gateway requests, stream
records), the OpenAPI generator and the ``sam local`` check. A developer tool beside the product."""
