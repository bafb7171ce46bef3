"""Forecasting for the fleet: pages per day from meter readings, toner exhaustion, billing
estimates and reading anomalies. Pure functions over plain values (no database, no clock):
callers pass the history and the day it is."""
