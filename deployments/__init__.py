"""Ray Serve deployments: thin classes that bind Cortex services to Serve (no business logic)."""
