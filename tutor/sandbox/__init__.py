"""Runs untrusted lesson programs: evaluator worker, isolation layers, wire format. Never imports torch here."""

from __future__ import annotations

from tutor.sandbox.client import Evaluator, EvaluatorError, JobOutcome
from tutor.sandbox.layers import active_layers
from tutor.sandbox.wire import WireError

__all__ = ["Evaluator", "EvaluatorError", "JobOutcome", "WireError", "active_layers"]
