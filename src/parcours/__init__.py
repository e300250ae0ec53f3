"""parcours: France's coordinated care pathway (parcours de soins coordonnés), end to end."""

__version__ = "0.1.0"
