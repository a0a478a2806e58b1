"""sesmon: a deliverability monitor for Amazon SES that exports Prometheus metrics and sends alerts."""

__version__ = "0.1.0"
