"""Guarded actions in AWS taken when an alert fires: a pure policy, the SES calls, and their record."""
