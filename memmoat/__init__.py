"""memmoat: what a token really costs, and what holds the GPUs back.

This package holds what every part shares (settings, errors) and the command line
that composes the parts. The data flows one way:

    sources (collector/) -> store (store/) -> queries (queries/) -> views (dashboard/, reports/, CLI)
"""

__version__ = "0.1.0"
