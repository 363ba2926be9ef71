"""The core (lesson, sandbox, grading, charts) works in a process where Textual cannot be imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_core_imports_with_textual_blocked():
    code = textwrap.dedent(
        """
        import sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "textual" or name.startswith("textual.") or name.startswith("textual_"):
                    raise ImportError("textual is blocked in this test")
                return None

        sys.meta_path.insert(0, Block())
        import tutor.lesson, tutor.sandbox, tutor.grading
        import tutor.grading.grader, tutor.grading.check, tutor.grading.diagnose
        import tutor.sandbox.client, tutor.sandbox.runtime, tutor.sandbox.results
        import tutor.cli
        assert not any(m == "textual" or m.startswith("textual.") for m in sys.modules)
        assert "torch" not in sys.modules, "the core must not import torch in the parent"
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
