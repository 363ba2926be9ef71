"""The app's screens, one a file: the lesson list, a lesson, help, and a yes/no question."""
