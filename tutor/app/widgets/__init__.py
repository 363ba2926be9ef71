"""Reusable widgets: the code view with its blanks, and the charts panel over one plot widget."""
