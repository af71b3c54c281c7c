"""tendr watch on this machine (the local connector): a problem opens one alert, the
next cycle tells nothing more, the fix tells "cleared"; an alert not delivered is sent
the next cycle; the alert's URL (its credentials) reaches no output, log or history;
status says what watch keeps, as text, JSON and one HTML page."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import (
    ADMIN_RULES,
    BROWSER,
    LOCAL_HOSTS,
    build_tree,
    needs_root,
    rendered,
    requires,
)
from tests.helpers import run_tendr as tendr
from tests.receivers import Received, http_receiver, smtp_receiver

TOKEN = "Alert-Secret-3b8e1d"  # the URL's credentials: looked for everywhere afterwards


def workspace(tmp_path: Path, urls: dict[str, str], settings: str = "") -> tuple[str, Path]:
    target = tmp_path / "motd"
    alerts = "".join(f'[[alert]]\nurl = {{ file = "secrets/{name}" }}\n' for name in urls)
    root = build_tree(
        tmp_path / "ws",
        {
            "hosts/acme.toml": LOCAL_HOSTS,
            "states/s.toml": f'hosts = ["all"]\n[[file]]\npath = "{target}"\ncontent = "Hi\\n"\n',
            "rules/roles.toml": ADMIN_RULES,
            "tendr.toml": f"watch_clear_after = 1\n{settings}\n{alerts}",
            **{f"secrets/{name}": url + "\n" for name, url in urls.items()},
        },
    )
    for name in urls:
        (root / "secrets" / name).chmod(0o600)
    return str(root), target


def titles(received: Received) -> list[str]:
    return [m["title"] for m in received.messages]


def test_a_problem_is_told_once_then_cleared(tmp_path: Path) -> None:
    with http_receiver() as hook, smtp_receiver() as mail:
        ws, target = workspace(
            tmp_path,
            {
                "hook.url": f"json://tendr:{TOKEN}@127.0.0.1:{hook.port}/",
                "mail.url": f"mailto://tendr:{TOKEN}@127.0.0.1:{mail.port}"
                "?from=tendr@example.net&to=ops@example.net&secure=no&smtp=127.0.0.1",
            },
        )
        said = []
        code, text = tendr("watch", "-w", ws)
        said.append(text)
        assert code == 2, text
        assert "opened   desk01 drift: file." in text
        assert titles(hook) == titles(mail) == ["tendr: acme: 1 new"]
        assert f"file.write {target}" in hook.messages[0]["body"]
        assert "cause: its content differs from the state" in mail.messages[0]["body"]
        assert "fix:   tendr apply (operation file.write" in mail.messages[0]["body"]
        assert mail.logins == [TOKEN]  # the URL's credentials reached the server, and only it

        code, text = tendr("watch", "-w", ws)  # still open: nothing more is told
        said.append(text)
        assert code == 2 and len(hook.messages) == len(mail.messages) == 1, text

        hook.failing = True
        target.write_text("Hi\n")
        code, text = tendr("watch", "-w", ws, "--format", "json")
        said.append(text)
        assert code == 0, text
        done = json.loads(text)
        assert [p["key"] for p in done["cleared"]] == [f"file.write {target}"]
        assert done["sent"] == ["secrets/mail.url: acme"]
        assert titles(mail) == ["tendr: acme: 1 new", "tendr: acme: 1 cleared"]
        assert len(hook.messages) == 1 and "secrets/hook.url" in done["warnings"][0]

        hook.failing = False
        code, text = tendr("watch", "-w", ws)  # the webhook is told now
        said.append(text)
        assert code == 0 and titles(hook) == ["tendr: acme: 1 new", "tendr: acme: 1 cleared"]
        assert len(mail.messages) == 2

    for text in said:
        assert TOKEN not in text
    for path in Path(ws, ".tendr").rglob("*"):  # every file tendr keeps
        assert path.is_dir() or TOKEN.encode() not in path.read_bytes(), path


def test_status_says_what_watch_keeps(tmp_path: Path) -> None:
    ws, target = workspace(tmp_path, {})
    code, text = tendr("status", "-w", ws)
    assert code == 0 and "desk01: 0 problem(s), not watched yet" in text, text
    tendr("watch", "-w", ws)
    code, text = tendr("status", "-w", ws)
    assert code == 2, text
    assert "acme:" in text and "desk01: 1 problem(s), last seen" in text
    assert f"warning  drift: file.write {target} (open " in text
    code, text = tendr("status", "-w", ws, "--format", "json")
    [client] = json.loads(text)["clients"]
    [host] = client["hosts"]
    assert client["name"] == "acme" and host["problems"][0]["severity"] == "warning"
    assert host["drifting"] == [f"file.write {target}"]
    page = Path(ws, ".tendr/status.html").read_text()  # the cycle wrote it
    assert "Fleet status: 1 problem(s) open" in page and f"file.write {target}" in page


def test_an_alert_url_is_a_secret_file(tmp_path: Path) -> None:
    ws, _ = workspace(tmp_path, {"a.url": f"json://tendr:{TOKEN}@127.0.0.1:9/"})
    Path(ws, "secrets/a.url").chmod(0o644)
    code, text = tendr("validate", "-w", ws)
    assert code == 1 and "alert[0].url.file" in text and "chmod 600" in text, text
    Path(ws, "secrets/a.url").unlink()
    code, text = tendr("validate", "-w", ws)
    assert code == 1 and "the secret file does not exist" in text, text
    assert TOKEN not in text


@requires(BROWSER is not None, "Debian's chromium renders the status page")
def test_the_status_page_renders_in_a_browser(tmp_path: Path) -> None:
    ws, target = workspace(tmp_path, {})
    tendr("watch", "-w", ws)
    page = tmp_path / "status.html"
    code, text = tendr("status", "-w", ws, "--format", "html", "--out", str(page))
    assert code == 2 and "status written to" in text, text
    dom = rendered(page)
    assert "Fleet status: 1 problem(s) open" in dom and f"file.write {target}" in dom
    assert "desk01" in dom and "<script" not in page.read_text()


def test_each_cycle_is_one_audit_record_and_cycles_take_turns(tmp_path: Path) -> None:
    """A cycle is one record (not one per host), saying what it found; a second cycle
    while one runs is refused, since both would tell the same problems."""
    import fcntl

    ws, _ = workspace(tmp_path, {})
    for _ in range(2):
        assert tendr("watch", "-w", ws)[0] == 2
    code, text = tendr("audit-log", "show", "-w", ws, "--op", "watch", "--format", "json")
    assert code == 0, text
    records = json.loads(text)["records"]
    assert [(r["op"], r["resource"], r["outcome"]) for r in records] == [
        ("watch", "cycle", "done")
    ] * 2
    assert records[0]["reason"] == "1 of 1 host(s) read; 1 problem(s) open, 1 opened, 0 cleared"
    lock = Path(ws, ".tendr/watch.lock")
    with lock.open("rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        code, text = tendr("watch", "-w", ws)
    assert code == 1 and "another watch cycle is running" in text, text
    assert lock.stat().st_mode & 0o777 == 0o600


@needs_root  # --as: root's alone
def test_status_shows_nothing_to_one_who_may_read_nothing(tmp_path: Path) -> None:
    ws, _ = workspace(tmp_path, {})
    tendr("watch", "-w", ws)
    code, text = tendr("status", "-w", ws, "--as", "dave")
    assert code == 1 and "permission denied" in text
