"""API protection: query cost and document limits, persisted queries, rate limits (run
before any resolver; the schema assembles them as extensions)."""
