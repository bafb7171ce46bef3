"""Publish/subscribe of live events (ticket updates), in process or across workers via Redis."""
