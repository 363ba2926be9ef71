"""tutor: a terminal tutor that teaches deep-learning fundamentals by filling the blanks of real programs."""

__version__ = "0.1.0"
