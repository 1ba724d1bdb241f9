"""The item bank of the course as it is now: built once per course state, then served from memory.

Building parses every file (course_materials/ + the 30 fixture files: ~10 s on this machine, 2 shared cores);
a quiz must appear in under a second, so the bank is kept per state: the list of files with their sizes and
modification times (one directory walk, a few ms). A file added, edited or removed makes a new state, and the
next quiz rebuilds.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.settings import Settings, resolve_path
from study.items import Built, CourseFile, Item, Reject, build, course_files

State = tuple[tuple[str, str, int, int], ...]


@dataclass
class Bank:
    """Every item of the course by id, the modules the course has, and what was rejected."""

    items: list[Item]
    rejects: list[Reject]
    modules: list[str]  # every module with files, with items or not
    state: State = ()
    by_id: dict[str, Item] = field(default_factory=dict)
    # each item's content-word stems, (term, heading and title; its text), filled by the first topic quiz
    topic_stems: dict[str, tuple[set[str], set[str]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_id = {item.id: item for item in self.items}

    def of_module(self, module: str) -> list[Item]:
        """The module's items."""
        return [item for item in self.items if item.module == module]


def state_of(files: Sequence[CourseFile]) -> State:
    """What the bank depends on: each file's place, size and modification time."""
    out = []
    for file in files:
        try:
            stat = file.path.stat()
        except OSError:
            continue
        out.append((str(file.root), file.source, stat.st_size, stat.st_mtime_ns))
    return tuple(out)


def roots_of(settings: Settings) -> tuple[list[Path], list[Path]]:
    """The ingest roots, and the folders left out of them (the instructor's answers: a tutor's answer, not the
    course's own words)."""
    return [resolve_path(root) for root in settings.ingest_roots], [settings.instructor_answers_path]


class BankCache:
    """The bank of the current course state; one build at a time (a second caller waits for it)."""

    def __init__(self, roots: Sequence[Path], skip: Collection[Path] = (), language: str = "english") -> None:
        self.roots = list(roots)
        self.skip = list(skip)
        self.language = language
        self._bank: Bank | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_settings(cls, settings: Settings) -> BankCache:
        """The cache of the course the settings name."""
        roots, skip = roots_of(settings)
        return cls(roots, skip, settings.course_language)

    def get(self) -> Bank:
        """The bank of the course as it is now (rebuilt when a file changed)."""
        files = course_files(self.roots, self.skip)
        state = state_of(files)
        with self._lock:
            if self._bank is None or self._bank.state != state:
                built: Built = build(files, self.language)
                modules = sorted({file.module for file in files})
                self._bank = Bank(built.items, built.rejects, modules, state)
            return self._bank
