"""What the people running the API see: one record per GraphQL request (requests.py), written as
a JSON log line (logs.py) and counted in Prometheus metrics (metrics.py)."""
