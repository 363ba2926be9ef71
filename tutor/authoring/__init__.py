"""Authoring: `tutor new` (a starter lesson) and `tutor import` (a Jupyter notebook as a lesson).
Builds on tutor.lesson alone; docs/architecture.md has a paragraph per module."""
