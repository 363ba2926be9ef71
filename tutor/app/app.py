"""The Textual app. `make_app` builds it for the CLI, the tests and the benchmark alike.

Decisions, written down:

- First paint first: the lesson list is drawn from the lesson files' headers (`catalog.quick_index`);
  the lessons are parsed, and the sandbox started, right after the first frame.
- The grader comes from a factory (`grader_factory(lessons) -> grader`), called in a thread worker as
  soon as the app starts, so the sandbox (numpy and torch in the evaluator process) warms up while
  the learner reads. The default factory starts `tutor.sandbox.Evaluator` (torch preloaded when a
  lesson's header names it) and waits until it is
  ready. This process never imports torch; heavy modules (the grader, numpy, charts,
  textual-plotext) are imported after the first paint, when a lesson opens or the sandbox starts.
- Workers never touch the UI: the warm-up worker posts `GraderReady` / `GraderFailed` and the app
  sets its state in the handlers; a check waiting for the grader waits on an event set there, and
  the screen shows what it waits for (`evaluator_warming`: "torch" or "numpy", and for how long).
- Quitting never waits for the sandbox: drafts are saved, then every evaluator the warm-up made is
  killed (its process group, from the UI thread, without its lock: `tutor.grading.factory.stoppable`),
  ready or still importing torch, so the warm-up, reference and check workers, which Textual joins
  at exit, see their pipe close and end within milliseconds. A grader handed in by the caller (the
  tests) is not the app's to kill: it is closed in a background thread, as it always was.
- Progress is opened by the caller (the CLI reports a damaged or newer file before the app starts).
- Colours: every colour in the styles is a theme variable, so the app follows Textual's themes
  (palette: "Theme"); the theme chosen is remembered in the progress store, and `TUTOR_THEME`
  picks one at start (`TUTOR_THEME=textual-ansi` keeps the terminal's own colours and background).
  Charts use the terminal's named ANSI colours. Textual honours NO_COLOR and the terminal's depth.
- Width: 110 columns or more puts the charts beside the code (`-wide`); below, they replace it on
  ctrl+o (`-narrow`).
- Terminal safety: lesson text, grader sentences, program output and answers restored from the
  progress store are shown as they are; `SafeCells`, added to Textual's line filters, cleans every
  drawn line (`tutor.safe_text.cells`) before it reaches the terminal, whichever widget drew it.
"""

from __future__ import annotations

import os
import threading
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from rich.segment import Segment
from textual import on, work
from textual.app import App, SystemCommand
from textual.color import Color
from textual.filter import LineFilter
from textual.message import Message
from textual.screen import Screen

from tutor import safe_text
from tutor.app import keys
from tutor.app.catalog import Entry, entries_of, quick_index
from tutor.lesson import Lesson, LessonError, load_lessons
from tutor.paths import builtin_lessons_dir

if TYPE_CHECKING:  # the seams, typed; both modules stay unloaded until the app needs them
    from tutor.grading.seams import GraderLike
    from tutor.progress import Store

GraderFactory = Callable[[list[Any]], "GraderLike"]  # lessons (or list entries: anything with `.framework`)
STYLES = Path(__file__).parent / "styles"
QUIT_WAIT_S = 0.2  # at most this long for keys typed before the quit key to land in their blank (action_quit)


class GraderUnavailable(Exception):
    """The sandbox could not be started; the message says why."""


def default_grader_factory(lessons: list[Lesson], require_isolation: bool = False) -> GraderLike:
    """A Grader over a started evaluator (numpy, and torch when a lesson needs it). With
    `require_isolation` a missing sandbox layer stops it with one sentence naming the layer."""
    from tutor.grading.factory import make_grader

    return make_grader(lessons, require_isolation=require_isolation, wait=True)


def close_grader(grader: Any) -> None:
    """Stop the evaluator behind a grader, if it has one."""
    for target in (grader, getattr(grader, "evaluator", None)):
        close = getattr(target, "close", None)
        if callable(close):
            close()
            return


class SafeCells(LineFilter):
    """The app's one boundary to the terminal: no control or invisible character leaves a drawn line.

    Textual measures ESC, C1 controls and bidi marks as zero cells but writes them out as they are;
    dropping them here keeps every line's width, and a link whose target holds one loses the link.
    """

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        out: list[Segment] = []
        for segment in segments:
            text, style, control = segment
            if control:
                out.append(segment)  # Textual's own cursor moves, never text
                continue
            if style is not None and style.link and safe_text.cells(style.link) != style.link:
                style = style.clear_meta_and_links()
            clean = safe_text.cells(text)
            out.append(segment if clean is text and style is segment.style else Segment(clean, style))
        return out


class TutorApp(App[None]):
    """The tutor: the lesson list, lessons, help."""

    TITLE = "tutor"
    CSS_PATH = [STYLES / "app.tcss", STYLES / "lessons.tcss", STYLES / "lesson.tcss", STYLES / "dialogs.tcss"]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    BINDINGS = [
        keys.key(keys.HELP, "help", "Help", id="help", help="this help", title="Help"),
        # In the palette as Textual's own "Quit".
        keys.key(keys.QUIT, "quit", "Quit", id="quit", show=False, priority=True, help="quit (your answers are saved)"),
    ]

    class LessonsLoaded(Message):
        def __init__(self, lessons: list[Lesson]) -> None:
            super().__init__()
            self.lessons = lessons

    class LessonsFailed(Message):
        def __init__(self, problems: list[str]) -> None:
            super().__init__()
            self.problems = problems

    class GraderReady(Message):
        def __init__(self, grader: Any) -> None:
            super().__init__()
            self.grader = grader

    class GraderFailed(Message):
        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    def __init__(self, lessons_dir: Path, entries: list[Entry], store: Store,
                 grader_factory: GraderFactory = default_grader_factory,
                 *, cursor_blink: bool = True, theme: str | None = None) -> None:
        super().__init__()
        self.lessons_dir = lessons_dir
        self.entries = entries
        self.lessons: list[Lesson] | None = None  # parsed after the first paint (tutor.app.catalog)
        self.lesson_problems: list[str] = []
        self._pending_open: str | None = None
        self.store = store
        self.grader_factory = grader_factory
        self.cursor_blink = cursor_blink
        self.grader: GraderLike | None = None
        self.grader_error: str | None = None
        self._grader_event = threading.Event()
        self._warmed: set[str] = set()
        self._initial_theme = theme
        self._ending = threading.Event()
        self._made: Any = None  # the evaluators the warm-up made (tutor.grading.factory.stoppable)
        self._warming_since: float | None = None  # time.monotonic() when the warm-up began; None when over
        self._safe_cells = SafeCells()  # one instance: Textual caches filtered lines per filter
        self.typeahead: list[str] | None = None  # see open_lesson
        self._quitting = False  # see action_quit
        self.notices: list[tuple[str, str]] = []  # (title, message) of the latest notices, oldest first

    @property
    def grader_ready(self) -> bool:
        return self.grader is not None

    def evaluator_warming(self) -> tuple[str, float] | None:
        """What a check now waits for: (what the evaluator loads, "torch" or "numpy"; seconds it has been
        at it), or None once it is ready or could not start."""
        since = self._warming_since
        if since is None or self._grader_event.is_set():
            return None
        torch = any(getattr(e, "framework", "") == "torch" for e in self.entries)
        return ("torch" if torch else "numpy"), max(0.0, time.monotonic() - since)

    # ---- start and stop ---------------------------------------------------------------------
    def on_mount(self) -> None:
        from tutor.app.screens.lessons import LessonListScreen

        theme = self._initial_theme or os.environ.get("TUTOR_THEME") or self.store.setting("theme")
        if isinstance(theme, str) and theme in self.available_themes:
            self.theme = theme
        self.theme_changed_signal.subscribe(self, self._remember_theme)
        self.push_screen(LessonListScreen())
        # After the first paint: parsing the lessons and starting the sandbox must not delay it.
        self.call_after_refresh(self._after_first_paint)

    def _after_first_paint(self) -> None:
        self._warming_since = time.monotonic()
        self._start_grader()
        self._load_lessons()

    @work(thread=True, exclusive=True, exit_on_error=False, group="lessons")
    def _load_lessons(self) -> None:
        try:
            lessons = load_lessons(self.lessons_dir)
        except LessonError as exc:
            self.post_message(self.LessonsFailed([str(p) for p in exc.problems]))
            return
        self.post_message(self.LessonsLoaded(lessons))

    @on(LessonsLoaded)
    def _lessons_loaded(self, message: LessonsLoaded) -> None:
        from tutor.app.screens.lessons import LessonListScreen

        self.lessons = message.lessons
        self.entries = entries_of(message.lessons)
        for screen in self.screen_stack:
            if isinstance(screen, LessonListScreen):
                screen.refresh_list()
        pending, self._pending_open = self._pending_open, None
        lesson = next((l for l in self.lessons if l.id == pending), None)
        if lesson is not None:
            self.open_lesson(lesson)

    @on(LessonsFailed)
    def _lessons_failed(self, message: LessonsFailed) -> None:
        # As `tutor list` would: the problems (file:line:col and a sentence) and exit status 2.
        self.lesson_problems = message.problems
        self.exit(return_code=2)

    def _remember_theme(self, theme: Any) -> None:
        if self._initial_theme is None:
            self.store.set_setting("theme", theme.name)

    @work(thread=True, exclusive=True, exit_on_error=False, group="evaluator")
    def _start_grader(self) -> None:
        from tutor.grading.factory import stoppable

        with stoppable() as made:
            self._made = made
            if self._ending.is_set():  # quit before this thread ran (`stop_evaluator` may not have seen `made`)
                return
            try:
                grader = self.grader_factory(self.entries)
            except Exception as exc:  # the sandbox cannot start here: the app still shows lessons
                if not self._ending.is_set():  # killed by quitting is no failure to report
                    self.post_message(self.GraderFailed(f"the sandbox could not start ({exc}); run `tutor doctor`"))
                return
        if self._ending.is_set():
            close_grader(grader)  # the app ended while the sandbox was starting (a made evaluator is killed already)
            return
        self.post_message(self.GraderReady(grader))

    @on(GraderReady)
    def _grader_ready(self, message: GraderReady) -> None:
        self.grader = message.grader
        self._grader_event.set()

    @on(GraderFailed)
    def _grader_failed(self, message: GraderFailed) -> None:
        self.grader_error = message.error
        self._grader_event.set()
        self.notify(message.error, title="Checks are not available", severity="error", timeout=15, markup=False)

    def wait_for_grader(self, cancelled: Callable[[], bool]) -> GraderLike:
        """In a worker: the grader once the sandbox is ready (Cancelled-safe: polls `cancelled`)."""
        from tutor.grading.verdicts import Cancelled

        while not self._grader_event.wait(0.05):
            if cancelled() or self._ending.is_set():
                raise Cancelled()
        if self.grader is None:
            raise GraderUnavailable(self.grader_error or "the sandbox is not available")
        return self.grader

    def warm_reference(self, lesson: Lesson) -> None:
        """Run a lesson's reference program in the background, so its first check is quicker."""
        if lesson.id in self._warmed:
            return
        self._warmed.add(lesson.id)
        self._warm_reference(lesson)

    @work(thread=True, exit_on_error=False, group="warm")
    def _warm_reference(self, lesson: Lesson) -> None:
        from textual.worker import get_current_worker

        worker = get_current_worker()
        try:
            grader = self.wait_for_grader(lambda: worker.is_cancelled)
            # `references` takes the grader's own lock, as `grade` does: a check made while the
            # evaluator was warming up wakes with this worker and either finds the reference made or
            # makes it itself, never after a second run of it (`reference` alone would run it twice).
            reference = getattr(grader, "references", None)
            if callable(reference):
                reference([lesson])
                return
            reference = getattr(grader, "reference", None)
            if callable(reference):
                reference(lesson)
        except Exception:
            return  # the check itself reports any problem with the reference

    def _save_open_lesson(self) -> None:
        # By what a screen does, not its class: importing the lesson screen (numpy, charts) to ask
        # would make quitting from the list wait for a second.
        for screen in self.screen_stack:
            save = getattr(screen, "save_draft", None)
            if callable(save):
                save()

    async def action_quit(self) -> None:
        # The quit key is a priority binding, handled as it arrives: keys typed just before it may still
        # wait in the focused blank's queue. Save once they have landed (a callback queued behind them),
        # or after QUIT_WAIT_S whatever happens to that widget: the quit itself never waits longer.
        target = self.focused
        if target is not None and target.call_later(self._quit_now):
            self.set_timer(QUIT_WAIT_S, self._quit_now)
            return
        self._quit_now()

    def _quit_now(self) -> None:
        if self._quitting:
            return
        self._quitting = True
        self._save_open_lesson()
        self.stop_evaluator()
        self.exit()

    def stop_evaluator(self) -> None:
        """The app is ending: kill the evaluators it made, at once, whatever they are doing; workers
        waiting for the grader give up. Never waits for the sandbox (a few ms at most)."""
        self._ending.set()
        made = self._made
        if made is not None:
            made.kill()
        grader, self.grader = self.grader, None
        if grader is not None:
            # One handed in by the caller: an evaluator busy with a cancelled check would hold its lock,
            # so it is closed in the background (one the app made is dead already: this is quick).
            threading.Thread(target=close_grader, args=(grader,), daemon=True).start()

    def on_unmount(self) -> None:
        self.stop_evaluator()  # every other way out (an exit on a lesson problem, ctrl+c) as well

    # ---- navigation -------------------------------------------------------------------------
    def open_lesson(self, lesson: Lesson | Entry) -> None:
        """Open a lesson (an entry not parsed yet opens as soon as the lessons are read)."""
        from tutor.app.screens.lesson import LessonScreen

        # Keys typed from now (from the enter key, on the list) until the lesson's first blank has the
        # focus are kept for it, however fast they come.
        if self.typeahead is None:
            self.typeahead = []
        if isinstance(lesson, Entry):
            if lesson.lesson is None:
                self._pending_open = lesson.id
                self.notify("Reading the lessons…", timeout=2)
                return
            lesson = lesson.lesson
        self.push_screen(LessonScreen(lesson))

    def take_typeahead(self) -> str:
        """What was typed between asking for a lesson and its first blank taking the focus."""
        typed, self.typeahead = "".join(self.typeahead or []), None
        return typed

    def open_next_lesson(self, current: str) -> None:
        """From a finished lesson to the next one in the list (the list's cursor follows it)."""
        from tutor.app.screens.lesson import LessonScreen

        ids = [e.id for e in self.entries]
        following = self.entries[ids.index(current) + 1] if current in ids and ids.index(current) + 1 < len(ids) else None

        async def go() -> None:
            if isinstance(self.screen, LessonScreen):
                await self.pop_screen()  # gone before the next lesson's screen comes
            if following is None:
                self.notify("That was the last lesson: well done!", title="All lessons", markup=False)
                return
            self.store.mark_opened(following.id)  # the list's cursor follows, now and next time
            self.open_lesson(following)

        self.run_worker(go(), group="navigate", exclusive=True, exit_on_error=False)

    def action_help(self) -> None:
        from tutor.app.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def notify(self, message: str, *, title: str = "", severity: Any = "information", timeout: float | None = None,
               markup: bool = True) -> None:
        """A screen with a notice line (the lesson) shows notices there, where they cover neither the
        code nor the status line; elsewhere they are Textual's toasts. Every notice is also kept in
        `notices` (title, message). Thread-safe, as Textual's own."""
        if threading.get_ident() != self._thread_id:
            self.call_from_thread(self.notify, message, title=title, severity=severity, timeout=timeout, markup=markup)
            return
        self.notices.append((title, message))
        del self.notices[:-50]
        show = getattr(self.screen, "show_notice", None)
        if callable(show):
            show(message, title=title, severity=severity, timeout=timeout or self.NOTIFICATION_TIMEOUT)
            return
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def get_line_filters(self) -> Sequence[LineFilter]:
        return [*super().get_line_filters(), self._safe_cells]

    # ---- the command palette ----------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette: every titled key of the screen (and of its widgets that say so in
        `palette_sources`), the screen's extra commands, then the app's own."""
        sources = getattr(screen, "palette_sources", None)
        for target, bindings in sources() if callable(sources) else [(screen, type(screen).BINDINGS)]:
            for b in keys.commands(bindings):
                yield SystemCommand(b.title, keys.palette_help(b), partial(target.run_action, b.action))
        extras = getattr(screen, "palette_extras", None)
        if callable(extras):
            for title, help, callback in extras():
                yield SystemCommand(title, help, callback)
        for b in keys.commands(self.BINDINGS):
            yield SystemCommand(b.title, keys.palette_help(b), partial(self.run_action, b.action))
        yield from super().get_system_commands(screen)


def make_app(lessons_dir: str | Path | None = None, store: Any = None,
             grader_factory: GraderFactory = default_grader_factory, **options: Any) -> TutorApp:
    """The app over a lessons folder (default: the built-in lessons) and a progress store.

    Raises LessonError for a folder that is missing or holds no lesson. Problems inside lesson files
    are found by the parse after the first paint: the app then ends with `return_code` 2 and the
    problems in `lesson_problems` (the CLI prints them). `store` defaults to the user's progress file
    (`tutor.progress.ProgressStore.open()`, which raises ProgressError for a file it must not touch).
    """
    folder = Path(lessons_dir) if lessons_dir is not None else builtin_lessons_dir()
    entries = quick_index(folder)
    if store is None:
        from tutor.progress import ProgressStore

        store = ProgressStore.open()
    return TutorApp(folder, entries, store, grader_factory, **options)
