"""infrasignal: watch public careers boards for data-center infrastructure hiring signals."""

__version__ = "0.1.0"
