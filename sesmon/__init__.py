"""sesmon: a deliverability monitor for Amazon SES that exports Prometheus metrics and sends alerts."""

from importlib.metadata import PackageNotFoundError, version

# pyproject.toml's `version` is the one place the version is written; the installed metadata carries it.
try:
    __version__ = version("sesmon")
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0.0.0+unknown"
