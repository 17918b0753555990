"""acd-callback-hub: the shared code of the Lambda functions (shipped as a layer)."""
