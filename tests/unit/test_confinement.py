"""One confinement rule for every ingest path (core.settings.inside): the loader's walk, which the CLI and the
server's ingest route share, and a restored backup. Links to a file and to a folder outside are never read."""

from __future__ import annotations

import io
import sqlite3
import tarfile
import tempfile
from pathlib import Path

import pytest

from core.settings import Settings, inside
from core.store_errors import StoreError
from loaders.backup import DB_MEMBER, RECORDS_MEMBER, restore
from loaders.ingest import discover


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A folder with a lesson, links inside it (kept) and links to a file and a folder outside (refused)."""
    root = tmp_path / "course"
    (root / "week01").mkdir(parents=True)
    (root / "week01" / "lists.md").write_text("# Lists\n\nA list holds items.\n")
    (root / "week01" / "again.md").symlink_to(root / "week01" / "lists.md")
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "passwd.md").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (outside / "notes.md").write_text("# Private\n\nnot course material\n")
    (root / "passwd.md").symlink_to(outside / "passwd.md")
    (root / "elsewhere").symlink_to(outside)
    (root / "week01" / "up").symlink_to(tmp_path)
    return root


def test_links_out_of_the_folder_are_skipped_links_inside_it_kept(course):
    found, problems = discover(course)
    assert sorted(c.source for c in found) == ["week01/again.md", "week01/lists.md"]
    skipped = {p.source: p.reason for p in problems}
    outside = "links outside the folder"
    assert skipped == {"elsewhere": outside, "passwd.md": outside, "week01/up": outside}
    assert not any("private" in str(c.path.resolve()) for c in found)


def test_the_rule_resolves_every_link():
    assert inside("/srv/course/week01/a.md", "/srv/course") and inside("/srv/course", "/srv/course")
    assert not inside("/srv/course-old/a.md", "/srv/course") and not inside("/srv/course/../x", "/srv/course")


def _archive(tmp_path: Path, records: list[tuple[str, str]], extra: tarfile.TarInfo | None = None) -> Path:
    staging = Path(tempfile.mkdtemp(dir=tmp_path))
    (staging / DB_MEMBER).mkdir(parents=True)
    (staging / DB_MEMBER / "data").write_bytes(b"milvus")
    with sqlite3.connect(staging / RECORDS_MEMBER) as conn:
        conn.execute("CREATE TABLE ingested_files (namespace, root, file_id, source, fingerprint, chunks, updated_at)")
        conn.executemany("INSERT INTO ingested_files VALUES ('n', ?, ?, 's', 'f', 1, 0)", records)
    conn.close()
    archive = staging / "backup.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(staging / DB_MEMBER, arcname=DB_MEMBER)
        tar.add(staging / RECORDS_MEMBER, arcname=RECORDS_MEMBER)
        if extra is not None:
            tar.addfile(extra, io.BytesIO(b"x" * extra.size) if extra.isfile() else None)
    return archive


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, milvus_uri=str(tmp_path / "live" / "mentor.db"))  # type: ignore[call-arg]


def test_a_restore_of_files_from_outside_their_folder_is_refused(tmp_path, settings):
    archive = _archive(tmp_path, [("/srv/course", "/srv/course/week01/lists.md"), ("/srv/course", "/etc/passwd")])
    with pytest.raises(StoreError, match="outside the folder they were ingested from"):
        restore(settings, archive)
    assert not (tmp_path / "live" / "mentor.db").exists(), "nothing replaced"


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.REGTYPE])
def test_a_restore_holding_links_or_other_files_is_refused(tmp_path, settings, kind):
    member = tarfile.TarInfo(f"{DB_MEMBER}/link" if kind != tarfile.REGTYPE else "extra.sh")
    member.type, member.linkname, member.size = kind, "/etc/passwd" if kind == tarfile.SYMTYPE else DB_MEMBER, 0
    if kind == tarfile.REGTYPE:
        member.size = 3
    archive = _archive(tmp_path, [("/srv/course", "/srv/course/a.md")], member)
    with pytest.raises(StoreError, match="which no backup holds"):
        restore(settings, archive)


def test_a_confined_archive_restores_and_verify_sees_the_recorded_files(tmp_path, settings):
    archive = _archive(tmp_path, [("/srv/course", "/srv/course/a.md")])
    seen: list[list[str]] = []
    restore(settings, archive, verify=lambda database, recorded: seen.append(recorded))
    assert seen == [["/srv/course/a.md"]] and (tmp_path / "live" / "mentor.db" / "data").read_bytes() == b"milvus"
    refusing = _archive(tmp_path, [("/srv/course", "/srv/course/a.md")])

    def refuse(database: Path, recorded: list[str]) -> None:
        raise StoreError("chunks of a file no record lists")

    with pytest.raises(StoreError, match="no record lists"):
        restore(settings, refusing, verify=refuse)
    assert (tmp_path / "live" / "mentor.db" / "data").read_bytes() == b"milvus", "the live copy is untouched"
