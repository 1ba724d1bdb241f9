"""Who may call what (server/security.py): every route of the app, enumerated from the app itself, called with
each role's key, so a new route can't be forgotten; and the server's secret behind ids and links."""

from __future__ import annotations

import os
import re
import stat
from collections import Counter

import pytest
from starlette.routing import Route

from core.secret import SECRET_FILE, derived_key
from core.settings import Settings
from server.security import Keys

STUDENT, INSTRUCTOR, ADMIN = "student-key-7c1d", "teacher-key-91be", "admin-key-04aa"
CREDENTIALS = {"none": {}, "wrong": {"X-API-Key": "nope"}, "student": {"X-API-Key": STUDENT},
               "instructor": {"Authorization": f"Bearer {INSTRUCTOR}"}, "admin": {"X-API-Key": ADMIN}}  # fmt: skip
# The test's own classification of every route: a route matching none of these fails the test until someone
# decides who may call it. /files/ needs a student's key (or a signed link, tested in test_web.py).
STUDENT_API = (
    "chat|chat/stream|chat/stats|conversations|conversations/answered|modules|render|excerpts|closest|feedback"
    "|study/quiz|study/answer|study/progress"  # study mode (server/study.py)
)
EXPECTED = [
    (re.compile(r"^/api/ingest$"), "admin"),
    (re.compile(r"^/api/instructor/"), "instructor"),
    (re.compile(r"^/(chat|instructor|favicon\.ico|static/\{name\})$"), "public"),
    (re.compile(r"^/files/"), "student"),
    (re.compile(r"^/mentor/"), "student"),  # LangServe: invoke, batch, streams, schemas, playgrounds
    (re.compile(r"^/quiz/"), "student"),  # LangServe's quiz (study/runnable.py)
    (re.compile(rf"^/api/({STUDENT_API})$"), "student"),
    (re.compile(r"^/(|health|metrics|docs|docs/oauth2-redirect|redoc|openapi\.json)$"), "student"),
]
PARAMS = {"name": "chat.js", "source": "week02/loops_handout.pdf", "config_hash": "e30", "file_path": "index.html"}
RANK = {"public": 0, "student": 1, "instructor": 2, "admin": 3}


def every_route(routes: list, prefix: str = "") -> list[tuple[str, set[str]]]:
    """(path, methods) of every route, those of included routers too (FastAPI keeps those in their router)."""
    found: list[tuple[str, set[str]]] = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            found += every_route(inner.routes, prefix + route.include_context.prefix)
        elif isinstance(route, Route):
            found.append((prefix + route.path, set(route.methods or {"GET"})))
    return found


def expected_role(path: str) -> str:
    for pattern, role in EXPECTED:
        if pattern.search(path):
            return role
    raise AssertionError(f"{path} is not classified: add it to EXPECTED here and to server/security.py")


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: PARAMS.get(m.group(1), "x"), path)


def allowed(needed: str, who: str, keys: dict[str, str]) -> bool:
    """What the issue asks: no keys = open; students never reach the instructor's or the operator's routes."""
    if needed == "public" or not any(keys.values()):
        return True
    if needed == "student" and not keys["student"]:
        return True
    held = {"none": None, "wrong": None, "student": "student", "instructor": "instructor", "admin": "admin"}[who]
    if held is None or not keys[held]:
        return False
    admin_key = keys["admin"] or keys["instructor"]
    rank = 3 if held == "admin" or (held == "instructor" and keys["instructor"] == admin_key) else RANK[held]
    return rank >= RANK[needed]


CONFIGS = {
    "all three keys": {"student": STUDENT, "instructor": INSTRUCTOR, "admin": ADMIN},
    "student key only": {"student": STUDENT, "instructor": "", "admin": ""},
    "student and instructor keys": {"student": STUDENT, "instructor": INSTRUCTOR, "admin": ""},
    "no keys (one person, own machine)": {"student": "", "instructor": "", "admin": ""},
}


@pytest.mark.parametrize("config", list(CONFIGS))
def test_every_route_by_every_role(make_client, config):
    keys = CONFIGS[config]
    env = {"MENTOR_API_KEY": keys["student"], "INSTRUCTOR_API_KEY": keys["instructor"], "ADMIN_API_KEY": keys["admin"]}
    client = make_client(**{name: value for name, value in env.items() if value})
    routes = every_route(client.app.routes)
    paths = {path for path, _ in routes}
    assert {"/api/ingest", "/api/instructor/summary", "/files/{source:path}", "/mentor/invoke"} <= paths
    answers = "/api/instructor/answers"
    assert {answers, answers + "/{answer_id}", answers + "/{answer_id}/publish"} <= paths, "instructor answers"
    assert "/api/instructor/resolved" in paths, "missing-material rows marked resolved"
    assert {"/api/study/quiz", "/api/study/answer", "/api/study/progress", "/api/instructor/study"} <= paths
    assert "/api/conversations/answered" in paths, "a student's answered questions"
    assert len(routes) > 80, "the web pages' and LangServe's routes are enumerated too"
    wrong: list[str] = []
    checked: Counter[str] = Counter()
    for path, methods in routes:
        needed = expected_role(path)
        for method in sorted(methods - {"HEAD"}):
            for who, headers in CREDENTIALS.items():
                response = client.request(method, concrete(path), json={}, headers=headers)
                refused = response.status_code in (401, 403)
                if refused == allowed(needed, who, keys):
                    wrong.append(f"{who} {method} {path} → {response.status_code}")
                if refused:  # 401: no key this server knows; 403: a known key of too low a role
                    known = bool(keys.get(who))
                    assert response.status_code == (403 if known else 401), (who, path, response.text)
                checked[needed] += 1
    print(f"{config}: {sum(checked.values())} calls over {len(routes)} routes {dict(checked)}, {len(wrong)} wrong")
    assert not wrong, wrong


def test_a_student_cannot_reset_the_course_or_read_the_instructors_data(make_client, course, monkeypatch):
    import loaders.ingest

    resets: list[bool] = []

    def ingest(directory, *, reset=False, **kwargs):  # type: ignore[no-untyped-def]
        resets.append(reset)
        return loaders.ingest.IngestReport(str(directory), "c")

    monkeypatch.setattr(loaders.ingest, "ingest_directory", ingest)
    client = make_client(MENTOR_API_KEY=STUDENT, INSTRUCTOR_API_KEY=INSTRUCTOR, INGEST_ROOTS=f'["{course}"]')
    student = {"X-API-Key": STUDENT}
    reset = client.post("/api/ingest", json={"directory": str(course), "reset": True}, headers=student)
    assert reset.status_code == 403 and "ADMIN_API_KEY" in reset.json()["detail"] and resets == []
    for path in ("/api/instructor/summary", "/api/instructor/export.csv", "/api/instructor/answers"):
        assert client.get(path, headers=student).status_code == 403
    answer = {"question": "Late work?", "body": "No.", "module": ""}
    assert client.post("/api/instructor/answers", json=answer, headers=student).status_code == 403
    assert client.get("/static/config.json").json() == {"key": True, "instructor_key": True}
    operator = {"X-API-Key": INSTRUCTOR}  # no ADMIN_API_KEY: the instructor is the operator
    assert client.post("/api/ingest", json={"directory": str(course), "reset": True}, headers=operator).is_success
    assert resets == [True]


def test_the_operator_is_the_instructor_unless_an_admin_key_is_set():
    both = Keys(Settings(_env_file=None, mentor_api_key=STUDENT, instructor_api_key=INSTRUCTOR))  # type: ignore[call-arg]
    assert both.role_of(INSTRUCTOR.encode()) == "admin" and both.role_of(STUDENT.encode()) == "student"
    three = Keys(Settings(_env_file=None, instructor_api_key=INSTRUCTOR, admin_api_key=ADMIN))  # type: ignore[call-arg]
    assert three.role_of(INSTRUCTOR.encode()) == "instructor" and three.role_of(ADMIN.encode()) == "admin"
    assert three.refusal("student", b"") is None, "no student key: the tutor is open, the rest is not"
    assert three.refusal("instructor", b"")[0] == 401  # type: ignore[index]
    assert three.refusal("admin", INSTRUCTOR.encode())[0] == 403  # type: ignore[index]
    assert Keys(Settings(_env_file=None)).refusal("admin", b"") is None  # type: ignore[call-arg]


def test_the_server_secret_is_generated_once_private_and_overridable(tmp_path, monkeypatch):
    monkeypatch.delenv("MENTOR_SECRET")
    settings = Settings(_env_file=None, milvus_uri=str(tmp_path / "db" / "mentor.db"))  # type: ignore[call-arg]
    first = derived_key(settings, "file-links")
    path = tmp_path / "db" / SECRET_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and len(path.read_text()) == 64
    assert derived_key(settings, "file-links") == first != derived_key(settings, "log-salt")
    assert [p.name for p in path.parent.iterdir()] == [SECRET_FILE], "no temporary file left"
    given = settings.model_copy(update={"mentor_secret": "shared-by-replicas"})
    assert derived_key(given, "file-links") != first
    assert derived_key(given, "file-links") == derived_key(given.model_copy(), "file-links")
