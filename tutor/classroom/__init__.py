"""The classroom: a learner's hand-in (`tutor export`) and grading a class (`tutor grade ... --csv
--report --jobs`). Core, like tutor.grading: no Textual; it uses grading, progress and lesson.

- submissions.py: a hand-in read as answers (an answers file, a program file), and the files a
  list of paths stands for; the one reader of answers files, for `tutor grade` and `tutor hint`.
- batch.py: a class graded by N warm graders in parallel, one row per hand-in, in input order.
- gradebook.py: the rows as CSV (the columns are listed there).
- feedback.py: a Markdown feedback file per hand-in, and the class's summary.md.
- export.py: the learner's saved answers written as an answers file, with its TOML writer.
- cli.py: the command-line part (`tutor export`, `tutor grade` for a class), called by tutor.cli.
"""
