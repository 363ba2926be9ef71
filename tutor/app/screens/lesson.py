"""A lesson: the prose, the program with its blanks typed in place, checking, verdicts, hints, charts.

Decisions, written down:

- The whole lesson is one scrolling page, as in a notebook: the introduction, then each step's
  title, prose (Markdown) and program (`CodeView`). Steps share variables, so seeing them together
  helps; moving to a blank scrolls it into view.
- Checking (ctrl+r) grades every blank of the lesson at once, in a thread worker (exclusive, group
  "check"): a second check cancels the first (the grader stops at its next run), escape cancels it.
  The worker never touches a widget: it posts `CheckDone` / `CheckFailed` / `CheckCancelled` with a
  token, and the screen ignores any message whose token is not the latest.
- Every check is recorded in the progress store by the screen, when its result arrives, before
  anything is shown; answers are also saved a second after the last keystroke, on leaving and on quit.
- After a check each blank gets a mark; a wrong one also its sentence from the grader and the hint
  for its diagnosis (or the first hint). ctrl+g shows the blank's further hints one at a time. An
  answer edited since the check keeps a dimmed mark.
- The solution of a blank (ctrl+s) is shown only after at least one check of the lesson and after a
  yes to a question; it is written under the blank, not into it: the learner still types it.
- A reopened lesson gets its saved answers, hints and solutions shown, the focus on the blank last
  used, and the marks of its last check (dimmed where the answer changed since).
"""

from __future__ import annotations

from typing import Any

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import NoBinding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Input, ProgressBar, Static, TextArea
from textual.worker import get_current_worker

from tutor import charts
from tutor.app import keys
from tutor.app.screens.confirm import ConfirmScreen
from tutor.app.widgets.charts_panel import ChartsPanel
from tutor.app.widgets.code import MARKS, BlankSlot, CodeLines, CodeView
from tutor.app.widgets.footer import TutorFooter
from tutor.app.widgets.inline import inline_code
from tutor.app.widgets.prose import Prose
from tutor.grading.verdicts import Cancelled
from tutor.lesson.model import Lesson


LIVE_OUTPUT_CAP = 64 * 1024  # characters of a running check's output kept for the panel


class LessonScreen(Screen[None]):
    """One lesson, from its introduction to its last blank."""

    BINDINGS = [
        keys.key(keys.CHECK, "check", "Check", id="check", title="Check answers",
                 help="check your answers (run the program beside the reference)"),
        keys.key(keys.HINT, "hint", "Hint", id="hint", title="Hint", help="a hint for this blank; press again for the next one"),
        keys.key(keys.CHARTS, "toggle_charts", "Charts", id="charts", title="Charts and output",
                 help="show the charts and your program's output (and back)"),
        keys.key(keys.NEXT_LESSON, "next_lesson", "Next", id="next-lesson", title="Next lesson",
                 help="once the lesson is done: open the next one"),
        keys.key(keys.REVEAL, "reveal", "Solution", id="reveal", show=False, title="Show solution",
                 help="the reference answer to this blank (after a check; asks first)"),
        keys.key(keys.RESET, "reset", "Reset", id="reset", show=False, title="Reset lesson",
                 help="start the lesson over (asks first)"),
        keys.key(keys.EDITOR, "edit_in_editor", "Edit", id="editor", title="Open in your editor",
                 help="the lesson as a Python file in your $EDITOR; its answers come back and are checked"),
        keys.key(keys.BACK, "back", "Back", id="back", title="Back to the lessons",
                 help="back to the lessons; cancels a running check"),
        # Priority: the focus moves as the key arrives, so keys typed right after it (fast typing, a
        # terminal sending a burst) land in the next blank, not in the one being left. They go round
        # the blanks only: no other widget of the page takes the focus from them.
        keys.key("tab", "next_blank", "Next blank", show=False, priority=True, title="Next blank",
                 help="next / previous blank (round from the last to the first)"),
        keys.key("shift+tab", "previous_blank", "Previous blank", show=False, priority=True, title="Previous blank",
                 help="next / previous blank (round from the last to the first)"),
    ]

    checking: reactive[bool] = reactive(False)
    show_charts: reactive[bool] = reactive(False)

    # ---- messages from the check worker ---------------------------------------------------------
    class CheckDone(Message):
        def __init__(self, token: int, answers: dict[str, str], report: Any) -> None:
            super().__init__()
            self.token, self.answers, self.report = token, answers, report

    class CheckFailed(Message):
        def __init__(self, token: int, error: str) -> None:
            super().__init__()
            self.token, self.error = token, error

    class CheckCancelled(Message):
        def __init__(self, token: int) -> None:
            super().__init__()
            self.token = token

    class CheckOutput(Message):
        """Lines the learner's program printed while the check runs (from the check worker's thread)."""

        def __init__(self, token: int, text: str) -> None:
            super().__init__()
            self.token, self.text = token, text

    def __init__(self, lesson: Lesson) -> None:
        super().__init__(id="lesson-screen")
        self.lesson = lesson
        self.blank_order = list(lesson.blanks)
        self.slots: dict[str, BlankSlot] = {}
        self.results: dict[str, dict[str, Any]] = {}  # blank -> {"verdict", "diagnosis", "message", "hint"}
        self.checked_answers: dict[str, str] = {}
        self.hints_shown: dict[str, int] = {}
        self.revealed: set[str] = set()
        self.current: str | None = self.blank_order[0] if self.blank_order else None
        self.token = 0
        self.attempted = False
        self.passed = False
        self.notes: list[str] = []
        self._save_timer: Any = None
        self._notice_timer: Any = None
        self.live_output = ""  # what the program printed so far in the running check

    @property
    def store(self) -> Any:
        return self.app.store  # type: ignore[attr-defined]

    # ---- layout -----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        saved = self.store.lesson_state(self.lesson.id)
        state = saved.state if isinstance(saved.state, dict) else {}
        self.hints_shown = {k: int(v) for k, v in (state.get("hints") or {}).items() if isinstance(v, int)}
        self.revealed = {n for n in (state.get("revealed") or []) if n in self.lesson.blanks}
        self._resume_focus = state.get("focus") in self.lesson.blanks
        if self._resume_focus:
            self.current = state["focus"]
        blink = getattr(self.app, "cursor_blink", True)
        with Horizontal(id="lesson-title"):
            yield Static(Content.styled(self.lesson.title, "bold"), id="lesson-name")
            yield Static("", id="lesson-score")
        with Horizontal(id="lesson-body"):
            with VerticalScroll(id="doc"):
                if self.lesson.intro.strip():
                    yield Prose(self.lesson.intro, classes="prose")
                if self.lesson.setup.strip():
                    yield Static("Set up before the steps (read-only):", classes="setup-title")
                    yield CodeLines([Content(line) for line in self.lesson.setup.rstrip("\n").split("\n")], classes="setup-code")
                for i, step in enumerate(self.lesson.steps):
                    yield Static(Content.styled(f"Step {i + 1} of {len(self.lesson.steps)}: {step.title}", "bold $accent"),
                                 classes="step-title", id=f"step-{i}")
                    if step.prose.strip():
                        yield Prose(step.prose, classes="prose")
                    yield CodeView(self.lesson, step, saved.answers, blink=blink, id=f"code-{i}")
            yield ChartsPanel(self.lesson, id="side")
        yield Static("", id="notice")
        with Horizontal(id="status-bar"):
            yield ProgressBar(total=None, show_eta=False, show_percentage=False, id="check-progress")
            yield Static("", id="status")
        yield TutorFooter()

    def on_mount(self) -> None:
        for view in self.query(CodeView):
            self.slots.update(view.slots)
        last = self.store.last_attempt(self.lesson.id)
        if last is not None:
            self.attempted = True
            self.results = {k: dict(v) for k, v in last.verdicts.items() if k in self.lesson.blanks}
            self.checked_answers = dict(last.answers)
            self.passed = last.passed
        self.query_one("#check-progress").display = False
        self.query_one("#notice").display = False
        self.refresh_marks()
        record = self.store.last_run(self.lesson.id) if last is not None else None
        if record:
            # The charts and output of the last check, as they were: no run needed to see them again.
            run = charts.restore_run(record)
            panel = self.query_one(ChartsPanel)
            panel.set_runs(run["learner"], run["reference"], run["stdout"], error=run["error"], reason=run["reason"])
            panel.select("fit" if self.passed else "loss")
            panel.set_class(True, "-has-runs")
        self._summarise(restored=last is not None)
        self.refresh_bindings()
        self.store.mark_opened(self.lesson.id)
        self.app.warm_reference(self.lesson)  # type: ignore[attr-defined]
        self._initial_focus()

    def _initial_focus(self) -> None:
        """A blank has the focus from the start (set in on_mount, before any key queued for the screen
        is handled), so nothing typed is lost: a reopened lesson's blank last used (scrolled into
        view), else the first unanswered one, with the page left at its top to be read (typing
        scrolls the blank into view). What was typed while the lesson opened goes into it."""
        typed = self.app.take_typeahead()  # type: ignore[attr-defined]
        if not self.slots:
            self.query_one("#doc").focus()
            return
        if self._resume_focus and self.current in self.slots:
            editor = self.slots[self.current].editor
            self.set_focus(editor, scroll_visible=False)
            # Once the prose above it has its height (Markdown lays out over a refresh or two).
            self.call_after_refresh(
                lambda: self.call_after_refresh(lambda: self.query_one("#doc").scroll_to_center(editor, animate=False)))
        else:
            self.current = self.first_unanswered()
            self.set_focus(self.slots[self.current].editor, scroll_visible=False)
        if typed:
            self.type_into_blank(typed)

    def first_unanswered(self) -> str:
        return next((n for n in self.blank_order if not self.slots[n].value.strip()), self.blank_order[0])

    async def on_key(self, event: events.Key) -> None:
        """Keys no blank took. A printable one (the focus on the page or the charts panel, or moving)
        goes to the blank in use, or the first unanswered one. An editing key (home, backspace...)
        that was on its way to the screen while the focus moved to a blank is that blank's: it runs
        the blank's binding for it. What is typed is never lost."""
        if getattr(event, "tutor_in_blank", False) or not self.slots:
            return  # it went through a blank: the blank's own bindings come next
        if event.is_printable and event.character:
            event.stop()
            event.prevent_default()
            self.type_into_blank(event.character)
            return
        editor = self.focused
        if getattr(editor, "blank_name", None) is None or editor is None:
            return
        try:
            binding = editor._bindings.get_bindings_for_key(event.key)[0]
        except NoBinding:
            return
        event.stop()
        event.prevent_default()
        await editor.run_action(binding.action)

    def type_into_blank(self, text: str) -> None:
        """Text typed where no blank took it: into the focused blank (a key that reached the screen
        while the focus was moving), else the blank in use or the first unanswered one."""
        name = getattr(self.focused, "blank_name", None)
        if name not in self.slots:
            name = self.current if self.current in self.slots else self.first_unanswered()
        if self.show_charts:
            self.show_charts = False
        editor = self.slots[name].editor
        if editor is not self.focused:
            self.set_focus(editor)
        if isinstance(editor, TextArea):
            editor.insert(text)
        else:
            editor.insert_text_at_cursor(text)

    # ---- notices ----------------------------------------------------------------------------
    def show_notice(self, message: str, *, title: str = "", severity: str = "information", timeout: float = 5.0) -> None:
        """A notice on its own line above the status bar (TutorApp.notify sends them here): it takes
        its room from the page for `timeout` seconds instead of covering the code or the status."""
        notice = self.query_one("#notice", Static)
        head = Content.styled(f"{title}: ", "bold") if title else Content("")
        notice.update(head + inline_code(message))
        for level in ("information", "warning", "error"):
            notice.set_class(severity == level, f"-{level}")
        notice.display = True
        if self._notice_timer is not None:
            self._notice_timer.stop()
        self._notice_timer = self.set_timer(timeout, self._hide_notice)

    def _hide_notice(self) -> None:
        self._notice_timer = None
        self.query_one("#notice", Static).display = False

    # ---- answers ----------------------------------------------------------------------------
    def answers(self) -> dict[str, str]:
        return {name: slot.value for name, slot in self.slots.items()}

    def state(self) -> dict[str, Any]:
        return {"hints": dict(self.hints_shown), "revealed": sorted(self.revealed), "focus": self.current}

    def save_draft(self) -> None:
        if self._save_timer is not None:
            self._save_timer.stop()
            self._save_timer = None
        self.store.save_answers(self.lesson.id, self.answers(), self.state())

    @on(Input.Changed, ".blank")
    @on(TextArea.Changed, ".blank")
    def _edited(self, event: Message) -> None:
        widget = getattr(event, "input", None) or getattr(event, "text_area", None)
        name = getattr(widget, "blank_name", None)
        if name is None:
            return
        self.refresh_marks(only=name)
        if widget is self.focused:
            self.query_one("#doc").scroll_to_widget(widget, animate=False)
        if self._save_timer is not None:
            self._save_timer.stop()
        self._save_timer = self.set_timer(1.0, self.save_draft)

    def on_descendant_focus(self, event: Any) -> None:
        name = getattr(event.widget, "blank_name", None)
        if name is not None:
            self.current = name
            self._show_score()
            note = self.slots[name].note
            if note.has_class("-shown"):
                self.call_after_refresh(lambda: self.query_one("#doc").scroll_to_widget(note, animate=False))

    # ---- marks and notes --------------------------------------------------------------------
    def _note_lines(self, name: str) -> list[tuple[str, str]]:
        blank = self.lesson.blanks[name]
        lines: list[tuple[str, str]] = []
        result = self.results.get(name)
        auto = None
        if result and result.get("verdict") == "correct" and self.slots[name].value.strip() == self.checked_answers.get(name, "").strip():
            return lines  # right: its hints and solution have done their work
        if result and result.get("verdict") != "correct":
            mark = MARKS.get(result.get("verdict", ""), "")
            lines.append(("message", f"{mark} {result.get('message') or 'Not right yet.'}".strip()))
            auto = result.get("hint")
            if auto:
                lines.append(("hint", f"Hint: {auto}"))
        for hint in self._more_hints(name, auto)[: self.hints_shown.get(name, 0)]:
            lines.append(("hint", f"Hint: {hint}"))
        if name in self.revealed:
            answer = blank.answer
            if "\n" in answer:
                lines.append(("solution", "Solution:\n" + "\n".join("    " + l for l in answer.split("\n"))))
            else:
                lines.append(("solution", f"Solution: {answer}"))
        return lines

    def _more_hints(self, name: str, auto: str | None) -> list[str]:
        return [h for h in self.lesson.blanks[name].hints if h != auto]

    def refresh_marks(self, only: str | None = None) -> None:
        for name, slot in self.slots.items():
            if only is not None and name != only:
                continue
            result = self.results.get(name)
            verdict = result.get("verdict") if result else None
            stale = result is not None and slot.value.strip() != self.checked_answers.get(name, "").strip()
            slot.show(verdict, stale, self._note_lines(name))

    def _counts(self) -> tuple[int, int]:
        right = sum(1 for n in self.blank_order if (self.results.get(n) or {}).get("verdict") == "correct")
        return right, len(self.blank_order)

    def _show_score(self) -> None:
        right, total = self._counts()
        step = self.lesson.blanks[self.current].step + 1 if self.current in self.lesson.blanks else 1
        where = f"step {step}/{len(self.lesson.steps)}"
        if self.passed:
            score = Content.styled(f"{where} · done ✓", "$text-success bold")
        elif self.results:
            score = Content(f"{where} · {right}/{total} right")
        else:
            score = Content(f"{where} · {total} blanks")
        self.query_one("#lesson-score", Static).update(score)

    def _summarise(self, restored: bool = False) -> None:
        right, total = self._counts()
        wrong = [n for n in self.blank_order if (self.results.get(n) or {}).get("verdict") not in (None, "correct")]
        if not self.results:
            text = Content(f"Read, then fill the {total} blanks: tab goes from one to the next, {keys.display(keys.CHECK)} checks.")
            side = Content("Check your answers (ctrl+r) to see your run beside the reference.")
        elif self.passed and not wrong:
            text = Content.styled(f"All {total} right: lesson done! {keys.display(keys.NEXT_LESSON)} next lesson · "
                                  f"{keys.display(keys.CHARTS)} charts", "$text-success")
            side = Content.styled(f"All {total} blanks right: your run matches the reference.", "$text-success bold")
        else:
            width = max(20, (self.app.size.width or 80) - 2 - (len("Last time: ") if restored else 0))
            text = inline_code(status_line(right, total, wrong, width), "$text-warning")
            names = ", ".join(f"`{n}`" for n in wrong[:3]) + (" and more" if len(wrong) > 3 else "")
            side = inline_code(f"{right} of {total} blanks right; not yet: {names}.", "$text-warning")
        if restored and self.results:
            text = Content("Last time: ") + text
        for note in self.notes:
            side = side + Content("\n") + inline_code(note, "$text-warning")
        self.query_one("#status", Static).update(text)
        self.query_one(ChartsPanel).set_summary(side)
        self._show_score()

    # ---- checking ---------------------------------------------------------------------------
    def action_check(self) -> None:
        answers = self.answers()
        self.save_draft()
        self.token += 1
        self.live_output = ""
        self.checking = True
        self._check(self.token, answers)

    @work(thread=True, exclusive=True, exit_on_error=False, group="check")
    def _check(self, token: int, answers: dict[str, str]) -> None:
        from tutor.grading.grader import LessonRunError

        worker = get_current_worker()

        def cancelled() -> bool:
            return worker.is_cancelled

        try:
            grader = self.app.wait_for_grader(cancelled)  # type: ignore[attr-defined]
            if cancelled():
                raise Cancelled()
            report = grader.grade(self.lesson, answers, cancelled=cancelled,
                                  on_output=lambda text: self.post_message(self.CheckOutput(token, text)))
        except Cancelled:
            self.post_message(self.CheckCancelled(token))
            return
        except LessonRunError as exc:
            self.post_message(self.CheckFailed(token, f"This lesson's own program does not run: {exc}"))
            return
        except Exception as exc:  # a bug or a sandbox that cannot start: say it, keep the app alive
            self.post_message(self.CheckFailed(token, f"The check could not run: {exc}"))
            return
        self.post_message(self.CheckDone(token, answers, report))

    def watch_checking(self, checking: bool) -> None:
        self.query_one("#check-progress").display = checking
        timer = getattr(self, "_warming_timer", None)
        if timer is not None:
            timer.stop()
            self._warming_timer = None
        if not checking:
            return
        status = self.query_one("#status", Static)
        warming = getattr(self.app, "evaluator_warming", lambda: None)

        def show() -> None:
            # A check before the evaluator is ready says what it waits for and for how long, every
            # half second; once it is ready, "Checking" (unless the run's own lines show already).
            if not self.checking:
                return
            now = warming()
            if now is not None:
                what, seconds = now
                status.update(Content(f"Warming up the evaluator ({what})… {seconds:.0f} s · esc cancels"))
                return
            timer = getattr(self, "_warming_timer", None)
            if timer is not None:
                timer.stop()
                self._warming_timer = None
            if not self.live_output:
                status.update(Content(f"Checking your answers… esc cancels, {keys.display(keys.CHECK)} starts over."))

        show()
        if warming() is not None:
            self._warming_timer = self.set_interval(0.5, show)

    def action_cancel_check(self) -> None:
        if not self.checking:
            return
        self.workers.cancel_group(self, "check")
        self.token += 1
        self.checking = False
        self.query_one("#status", Static).update(Content.styled("Check cancelled. Your answers are kept.", "$text-muted"))

    @on(CheckDone)
    def _check_done(self, message: CheckDone) -> None:
        if message.token != self.token:
            return
        report = message.report
        verdicts = {
            name: {"verdict": r.verdict, "diagnosis": r.diagnosis, "message": r.message, "hint": r.hint}
            for name, r in report.blanks.items()
        }
        learner = report.learner_run.captures if report.learner_run is not None else None
        reference = report.reference_run.captures if report.reference_run is not None else None
        run = getattr(report, "run", None)  # how the learner's run ended (tutor/grading/crash.py)
        error, reason = getattr(run, "error", None), getattr(run, "reason", None)
        record = charts.run_record(self.lesson, learner, reference, report.stdout, error, reason)
        self.store.record_attempt(self.lesson.id, message.answers, verdicts, elapsed=getattr(report, "elapsed", None),
                                  state=self.state(), run=record)
        self.attempted = True
        self.checking = False
        was_done = self.passed
        self.results = verdicts
        self.checked_answers = dict(message.answers)
        self.passed = bool(report.passed) or was_done
        self.notes = list(getattr(report, "notes", []) or [])
        self.refresh_marks()
        panel = self.query_one(ChartsPanel)
        panel.set_runs(learner, reference, report.stdout, error=error, reason=reason)
        panel.select("fit" if report.passed else "loss")
        # On the panel, not the screen: a class the screen gains restyles every widget of the page
        # (most of the first verdict's time), one the panel gains restyles the panel.
        panel.set_class(True, "-has-runs")
        self._summarise()
        self.refresh_bindings()
        if report.passed:
            self.notify(f"Every blank is right: {self.lesson.title} is done. {keys.display(keys.NEXT_LESSON)} opens the next lesson.",
                        title="Lesson done", timeout=6, markup=False)
        wrong = [n for n in self.blank_order if verdicts.get(n, {}).get("verdict") != "correct"]
        if wrong and not self.show_charts:
            # The first wrong blank (or the one being edited, if wrong) in the middle of the page,
            # with the code above it and its sentence below it in view.
            name = getattr(self.focused, "blank_name", None)
            name = name if name in wrong else wrong[0]
            editor = self.slots[name].editor
            self.set_focus(editor, scroll_visible=False)
            self.call_after_refresh(lambda: self.query_one("#doc").scroll_to_center(editor, animate=False))

    @on(CheckOutput)
    def _check_output(self, message: CheckOutput) -> None:
        """A long run shows its progress: the last line in the status bar, everything in the output panel."""
        if message.token != self.token or not self.checking:
            return
        self.live_output = (self.live_output + message.text)[-LIVE_OUTPUT_CAP:]
        lines = [line for line in self.live_output.splitlines() if line.strip()]
        if not lines:
            return
        self.query_one("#status", Static).update(Content("Running: ") + Content.styled(lines[-1].strip(), "bold"))
        self.query_one(ChartsPanel).show_live_output(self.live_output)

    @on(CheckFailed)
    def _check_failed(self, message: CheckFailed) -> None:
        if message.token != self.token:
            return
        self.checking = False
        self.query_one("#status", Static).update(Content.styled(message.error, "$text-error"))
        self.notify(message.error, title="Check failed", severity="error", timeout=10, markup=False)

    @on(CheckCancelled)
    def _check_cancelled(self, message: CheckCancelled) -> None:
        if message.token != self.token:
            return
        self.checking = False
        self.query_one("#status", Static).update(Content.styled("Check cancelled.", "$text-muted"))

    # ---- hints, solutions, reset ------------------------------------------------------------
    def action_hint(self) -> None:
        name = self.current
        if name is None:
            return
        result = self.results.get(name) or {}
        auto = result.get("hint") if result.get("verdict") not in (None, "correct") else None
        more = self._more_hints(name, auto)
        shown = self.hints_shown.get(name, 0)
        if shown >= len(more):
            extra = " after a check" if not self.attempted else ""
            self.notify(f"No more hints for `{name}`. {keys.display(keys.REVEAL)} shows its solution{extra}.",
                        title="Hints", markup=False)
            return
        self.hints_shown[name] = shown + 1
        self.refresh_marks(only=name)
        self.save_draft()
        note = self.slots[name].note
        self.call_after_refresh(lambda: self.query_one("#doc").scroll_to_widget(note, animate=False))

    def action_reveal(self) -> None:
        name = self.current
        if name is None:
            return
        if name in self.revealed:
            self.notify(f"The solution to `{name}` is under the blank.", markup=False)
            return
        if not self.attempted:
            self.notify(f"Check your answers once ({keys.display(keys.CHECK)}) before asking for a solution: try the hints ({keys.display(keys.HINT)}) first.",
                        title="Not yet", severity="warning", markup=False)
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.revealed.add(name)
                self.refresh_marks(only=name)
                self.save_draft()
                self.slots[name].editor.focus()

        self.app.push_screen(
            ConfirmScreen(f"Show the reference answer to `{name}`?\n\nYou will still type it yourself; "
                          "the hints (ctrl+g) may be enough.", yes="Show it", id="confirm-reveal"),
            answer,
        )

    def action_reset(self) -> None:
        def answer(yes: bool | None) -> None:
            if yes:
                self.reset_lesson()

        self.app.push_screen(
            ConfirmScreen(f"Start “{self.lesson.title}” over?\n\nYour answers, hints and solutions shown and its "
                          "done mark are cleared. Your past checks stay in the history.", yes="Reset", id="confirm-reset"),
            answer,
        )

    def reset_lesson(self) -> None:
        if self.checking:
            self.action_cancel_check()
        self.store.reset(self.lesson.id)
        self.results, self.checked_answers, self.hints_shown, self.revealed = {}, {}, {}, set()
        self.attempted = self.passed = False
        self.notes = []
        for slot in self.slots.values():
            slot.set_value("")
        self.refresh_marks()
        panel = self.query_one(ChartsPanel)
        panel.clear()
        panel.set_class(False, "-has-runs")
        self._summarise()
        self.refresh_bindings()
        self.store.save_answers(self.lesson.id, {}, self.state())
        if self.blank_order:
            self.slots[self.blank_order[0]].editor.focus()
        self.notify("The lesson starts over.", title="Reset")

    # ---- moving around ----------------------------------------------------------------------
    def _move(self, delta: int, wrap: bool) -> None:
        if not self.blank_order:
            return
        focused = getattr(self.focused, "blank_name", None)
        n = len(self.blank_order)
        if focused in self.blank_order:
            j = self.blank_order.index(focused) + delta
        elif self.current in self.blank_order:
            j = self.blank_order.index(self.current)  # back to the blank in use first
        else:
            j = 0
        j = j % n if wrap else max(0, min(n - 1, j))
        if self.show_charts:
            self.show_charts = False
        self.set_focus(self.slots[self.blank_order[j]].editor)

    def action_next_blank(self, wrap: bool = True) -> None:
        self._move(1, wrap)

    def action_previous_blank(self, wrap: bool = True) -> None:
        self._move(-1, wrap)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "next_lesson":
            return self.passed  # in the footer once the lesson is done
        if action == "edit_in_editor":
            return not self.app.is_web  # a browser has no $EDITOR: the key is not there
        return True

    # ---- the lesson in the learner's own editor, and the hand-in (tutor/app/handoff.py) ---------
    def action_edit_in_editor(self) -> None:
        from tutor.app.handoff import edit_in_editor

        edit_in_editor(self)

    def action_next_lesson(self) -> None:
        if not self.passed:
            return
        self.save_draft()
        self.app.open_next_lesson(self.lesson.id)  # type: ignore[attr-defined]

    def action_toggle_charts(self) -> None:
        panel = self.query_one(ChartsPanel)
        if self.show_charts or (self.app.size.width >= 110 and panel.has_focus):
            self.show_charts = False
            if self.current in self.slots:
                self.slots[self.current].editor.focus()
        else:
            self.show_charts = True
            panel.focus()

    def watch_show_charts(self, show: bool) -> None:
        self.set_class(show, "-charts")

    def action_back(self) -> None:
        if self.checking:
            self.action_cancel_check()
            return
        if self.show_charts:
            self.action_toggle_charts()
            return
        self.save_draft()
        self.app.pop_screen()

    def on_unmount(self) -> None:
        self.workers.cancel_group(self, "check")

    # ---- the command palette ----------------------------------------------------------------
    def palette_sources(self) -> list[tuple[Any, list[Any]]]:
        """Whose keys the palette offers while this screen is shown: its own and the charts panel's."""
        return [(self, list(self.BINDINGS)), (self.query_one(ChartsPanel), list(ChartsPanel.BINDINGS))]

    def palette_extras(self) -> list[tuple[str, str, Any]]:
        """Commands without a key of their own."""
        return [("Cancel check", "Stop the running check (escape)", self.action_cancel_check),
                ("Export answers", f"Your answers as {self.lesson.id}.toml in this folder, to hand in", self.export_answers)]

    def export_answers(self) -> None:
        from tutor.app.handoff import export_answers

        export_answers(self)

def status_line(right: int, total: int, wrong: list[str], width: int) -> str:
    """"3 of 6 right; not yet: `dw`, `db`. ^g hint · ^o charts", shortened to `width` by dropping the
    keys, then names (counted instead), never the "not yet" itself."""
    tail = f" {keys.display(keys.HINT)} hint · {keys.display(keys.CHARTS)} charts"
    for shown in range(min(len(wrong), 3), 0, -1):
        names = ", ".join(f"`{n}`" for n in wrong[:shown])
        rest = len(wrong) - shown
        more = f" and {rest} more" if rest else ""
        for end in (tail, ""):
            line = f"{right} of {total} right; not yet: {names}{more}.{end}"
            if len(line.replace("`", "")) <= width:
                return line
    return f"{right} of {total} right; not yet: `{wrong[0]}`" + (f" +{len(wrong) - 1}" if len(wrong) > 1 else "")
