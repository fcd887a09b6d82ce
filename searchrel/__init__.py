"""searchrel: distil a small search-relevance model from an LLM teacher on Spark + Delta."""

__version__ = "0.1.0"
