"""One definition of each format (host names, SSH public keys, durations), used by every
part that reads one; and every file tendr writes written by its format's library, so that
whatever text it holds is read back by tendr as it was written."""

from __future__ import annotations

import base64
import json
import os
import struct
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from tendr.base import names
from tendr.base.errors import UserError
from tendr.base.keys import KEY_TYPES, NotAKey, is_key_line, parse_key
from tendr.base.selection import check_selector
from tendr.gateway import session
from tendr.gateway.setup import GatewayError, config_text, parse_public_key
from tendr.kinds import backup
from tendr.ops import grants, onboard
from tendr.rules.model import GRANTS_FILE, MAX_GRANT, Grant
from tendr.workspace.hosts import Host, key_name
from tendr.workspace.loader import load
from tests.helpers import ADMIN_RULES, ME, build_tree, requires, run_tendr

SLOW = settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])

# Text a reason, a description or a path may hold: any character but lone surrogates
# (which no UTF-8 file can hold).
ANY_TEXT = st.text(st.characters(exclude_categories=["Cs"]))


def regex(pattern: str) -> st.SearchStrategy[str]:
    return st.from_regex(pattern, fullmatch=True)


# -- host names -------------------------------------------------------------------------


@given(st.one_of(regex(names.HOST_NAME_REGEX), ANY_TEXT))
def test_host_names_are_one_format_for_hosts_files_and_selectors(text: str) -> None:
    """HostName (hosts files), the selectors (--limit, states, rules) and --client agree."""
    valid = names.is_host_name(text)
    try:
        TypeAdapter(names.HostName).validate_python(text)
        typed = True
    except ValidationError:
        typed = False
    assert typed == valid
    assert (check_selector(f"group:{text}") is None) == valid
    assert (check_selector(f"client:{text}") is None) == valid
    if ":" not in text and text != "all":
        assert (check_selector(text) is None) == valid


# -- durations --------------------------------------------------------------------------

BACKUP_BEFORE = ["26h", "90m", "7d", "2w", "90s", "0h", "1000d"]  # a number and a unit
GRANTS_BEFORE = ["2h", "90m", "1d12h", "30s", "1d", "1h30m", "12h30m15s", "29d23h59m59s"]


@pytest.mark.parametrize("text", BACKUP_BEFORE + GRANTS_BEFORE)
def test_one_duration_format_takes_what_backups_and_grants_took(text: str) -> None:
    seconds = names.duration_seconds(text)
    assert TypeAdapter(names.Duration).validate_python(text) == text  # max_age, check_every
    assert backup.seconds(text) == seconds
    if 1 <= seconds <= MAX_GRANT.total_seconds():
        assert grants.parse_duration(text) == timedelta(seconds=seconds)


def test_durations_mean_what_they_say() -> None:
    assert names.duration_seconds("26h") == 26 * 3600
    assert names.duration_seconds("1d12h") == 36 * 3600
    assert names.duration_seconds("2w1d") == 15 * 86400
    assert names.duration_seconds("1h30m15s") == 5415
    assert grants.parse_duration("1d12h") == timedelta(days=1, hours=12)


@pytest.mark.parametrize(
    "text", ["", "h", "12", "1h1h", "1h2d", " 1h", "1h ", "1.5h", "-1h", "1H", "1 h", "1y", "１h"]
)
def test_anything_else_is_no_duration_anywhere(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        names.duration_seconds(text)
    with pytest.raises(ValidationError):
        TypeAdapter(names.Duration).validate_python(text)
    with pytest.raises(UserError, match="is not a duration"):
        grants.parse_duration(text)


def test_a_grant_lasts_from_a_second_to_thirty_days() -> None:
    for text in ("0s", "31d", "5w", "99999999999d"):
        with pytest.raises(UserError, match="a grant lasts from 1s to 30d"):
            grants.parse_duration(text)
    assert grants.parse_duration("30d") == MAX_GRANT


@given(st.lists(st.integers(0, 10**6), min_size=5, max_size=5), st.sets(st.sampled_from("wdhms")))
def test_any_duration_in_its_units_reads_as_their_sum(numbers: list[int], units: set[str]) -> None:
    used = [(n, u) for n, u in zip(numbers, "wdhms", strict=True) if u in units] or [(0, "s")]
    text = "".join(f"{n}{u}" for n, u in used)
    assert names.duration_seconds(text) == sum(n * names.DURATION_UNITS[u] for n, u in used)
    assert TypeAdapter(names.Duration).validate_python(text) == text


# -- SSH public keys --------------------------------------------------------------------


def wire(*fields: bytes) -> bytes:
    return b"".join(struct.pack(">I", len(field)) + field for field in fields)


def key_line(kind: str, body: bytes = b"\x01" * 32) -> str:
    return f"{kind} {base64.b64encode(wire(kind.encode(), body)).decode()}"


def every_reader(text: str, tmp: Path) -> list[bool]:
    """Whether gateway allow, onboarding and a backup's host_key each take the key line."""
    taken = []
    try:
        parse_public_key(text, "k.pub")
        taken.append(True)
    except GatewayError:
        taken.append(False)
    (tmp / "k.pub").write_text(text + "\n", encoding="utf-8")
    try:
        onboard.public_key_line(tmp / "k")
        taken.append(True)
    except UserError:
        taken.append(False)
    taken.append(backup.valid_host_key(" ".join(text.split()[:2])))
    return taken


@requires(
    subprocess.run(["sh", "-c", "command -v ssh-keygen"], capture_output=True).returncode == 0,
    "ssh-keygen is not installed",
)
@pytest.mark.parametrize(
    ("kind", "bits"),
    [("ed25519", None), ("ecdsa", "256"), ("ecdsa", "384"), ("ecdsa", "521"), ("rsa", "3072")],
)
def test_keys_ssh_keygen_makes_are_taken_everywhere(
    tmp_path: Path, kind: str, bits: str | None
) -> None:
    made = tmp_path / "id"
    size = ["-b", bits] if bits else []
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, *size, "-N", "", "-C", "me@laptop", "-f", str(made)],
        check=True,
    )
    text = (tmp_path / "id.pub").read_text().strip()
    assert every_reader(text, tmp_path) == [True, True, True]
    key = parse_key(text)
    assert key.line == " ".join(text.split()[:2])
    assert onboard.public_key_line(tmp_path / "k") == key.line
    shown = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(tmp_path / "id.pub")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert key.fingerprint == shown.split()[1]


@pytest.mark.parametrize("kind", KEY_TYPES)
def test_every_key_type_openssh_takes_is_taken_everywhere(tmp_path: Path, kind: str) -> None:
    """Security keys (sk-…) included: onboarding refused them before."""
    assert every_reader(key_line(kind) + " a comment", tmp_path) == [True, True, True]


@pytest.mark.parametrize(
    "text",
    [
        "ssh-dss " + key_line("ssh-dss").split()[1],  # gone from OpenSSH
        "ssh-ed25519 " + key_line("ssh-rsa").split()[1],  # the blob names another type
        "ssh-ed25519 AAAA!!!!",
        "ssh-ed25519 " + key_line("ssh-ed25519", b"").split()[1],  # no key in it
        "ssh-ed25519 " + key_line("ssh-ed25519").split()[1][:-8],  # cut short
        'command="sh" ' + key_line("ssh-ed25519"),  # options
        "ssh-ed25519",
        "",
    ],
)
def test_what_is_no_key_is_refused_everywhere(tmp_path: Path, text: str) -> None:
    assert every_reader(text, tmp_path) == [False, False, False]
    with pytest.raises(NotAKey):
        parse_key(text)


def test_what_is_wrong_with_a_key_is_said() -> None:
    line = key_line("ssh-ed25519")
    for text, said in [
        (line[:30] + "!" + line[30:], "not valid base64"),  # not skipped over
        ("ssh-ed25519 " + key_line("ssh-rsa").split()[1], "does not match its type"),
        ("ssh-ed25519 " + base64.b64encode(wire(b"ssh-ed25519")).decode(), "cut short"),
        (line[:-4], "does not match its type"),  # its last field cut short
        ("ssh-ed25519 " + base64.b64encode(wire(b"ssh-ed25519", b"k", b"")).decode(), "cut"),
        ("ssh-ed25519 " + base64.b64encode(wire(b"ssh-ed25519", b"k") + b"\0\0").decode(), "match"),
    ]:
        with pytest.raises(NotAKey, match=said):
            parse_key(text)
    exact = wire(b"ssh-ed25519", b"k")
    assert parse_key("ssh-ed25519 " + base64.b64encode(exact).decode()).blob


@given(st.sampled_from(KEY_TYPES), st.binary(min_size=1, max_size=80), ANY_TEXT)
def test_a_key_is_read_with_any_comment(kind: str, body: bytes, comment: str) -> None:
    line = key_line(kind, body)
    assert is_key_line(line)
    text = f"{line} {comment}" if comment.strip() else line
    if "\n" not in comment and "\r" not in comment:
        assert parse_key(text).line == line


# -- files tendr writes, read back ------------------------------------------------------

starts = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
lasting = st.integers(1, int(MAX_GRANT.total_seconds())).map(lambda n: timedelta(seconds=n))
selectors = st.one_of(
    st.just("all"),
    regex(names.HOST_NAME_REGEX),
    st.tuples(st.sampled_from(["group", "client", "tag"]), regex(names.HOST_NAME_REGEX)).map(
        ":".join
    ),
)
accounts = regex(r"[a-z_][a-z0-9_-]{0,31}")


@st.composite
def a_grant(draw: st.DrawFn) -> Grant:
    start = draw(starts)
    return Grant(
        id=draw(regex(r"[a-z0-9][a-z0-9_-]{0,79}")),
        person=draw(accounts),
        role=draw(regex(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")),
        hosts=tuple(draw(st.lists(selectors, min_size=1, max_size=3))),
        granted_by=draw(accounts),
        reason=draw(ANY_TEXT.filter(lambda text: 1 <= len(text) <= 500)),
        start=start.isoformat(timespec="seconds"),
        until=(start + draw(lasting)).isoformat(timespec="seconds"),
    )


WORKSPACE = {
    "hosts/acme.toml": '[hosts.a1]\naddress = "192.0.2.1"\n',
    "known_hosts": "",
    "rules/roles.toml": ADMIN_RULES,
}


@SLOW
@given(st.lists(a_grant(), max_size=4))
def test_grants_toml_reads_back_as_written(made: list[Grant]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = build_tree(Path(folder) / "ws", WORKSPACE)
        (root / GRANTS_FILE).write_text(grants._toml(made), encoding="utf-8")
        (root / GRANTS_FILE).chmod(0o644)
        assert load(root).grants == tuple(made)


file_names = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="/\x00"),
    min_size=1,
    max_size=40,
).filter(lambda name: name not in (".", "..") and len(name.encode()) <= 255)


@SLOW
@given(
    name=regex(names.HOST_NAME_REGEX).filter(lambda name: name not in ("all", "a1")),
    client=regex(names.HOST_NAME_REGEX),
    address=st.one_of(st.ip_addresses(v=4).map(str), regex(r"[a-z0-9][a-z0-9.-]{0,30}")),
    port=st.integers(1, 65535),
    groups=st.lists(regex(names.HOST_NAME_REGEX), max_size=3, unique=True),
    key_file=file_names,
    approved=st.booleans(),
)
def test_a_hosts_file_as_onboarding_writes_it_reads_back(
    name: str,
    client: str,
    address: str,
    port: int,
    groups: list[str],
    key_file: str,
    approved: bool,
) -> None:
    """Into a new file or one that holds other hosts; the controller's key at any path."""
    with tempfile.TemporaryDirectory() as folder:
        root = build_tree(Path(folder) / "ws", WORKSPACE)
        keys = Path(folder) / "keys"
        keys.mkdir(mode=0o700)
        key = keys / key_file
        key.write_text("a private key\n")
        key.chmod(0o600)
        host = Host(
            name=name,
            client=client,
            connector="ssh",
            address=address,
            port=port,
            user=None,
            ssh_key=None,
            groups=tuple(groups),
            tags=(),
            file=f"hosts/{client}.toml",
        )
        assert onboard._write_host(load(root), host, key, approved=approved)
        (found,) = [h for h in load(root).hosts if h.name == name]
        assert (found.client, found.address, found.port, found.groups) == (
            client,
            address,
            port,
            tuple(groups),
        )
        assert (found.ssh_key, found.approved, found.user) == (str(key), approved, None)


@SLOW
@given(
    kind=st.sampled_from(KEY_TYPES),
    body=st.binary(min_size=1, max_size=64),
    address=st.one_of(st.ip_addresses().map(str), regex(r"[a-z0-9][a-z0-9.-]{0,30}")),
    port=st.integers(1, 65535),
    gateway=st.one_of(st.none(), regex(names.HOST_NAME_REGEX)),
    others=st.lists(st.sampled_from(KEY_TYPES), max_size=3),
)
def test_a_known_hosts_line_as_onboarding_pins_it_reads_back(
    kind: str, body: bytes, address: str, port: int, gateway: str | None, others: list[str]
) -> None:
    def host(name: str, where: str, through: Host | None = None) -> Host:
        return Host(
            name=name,
            client="acme",
            connector="ssh",
            address=where,
            port=port,
            user=None,
            ssh_key=None,
            groups=(),
            tags=(),
            file="hosts/acme.toml",
            gateway=through,
        )

    through = host(gateway, "203.0.113.1") if gateway else None
    pinned = host("h", address, through)
    line = key_line(kind, body)
    with tempfile.TemporaryDirectory() as folder:
        known = Path(folder) / "known_hosts"
        for other in others:  # other hosts' keys before it
            onboard._append(known, f"other.example {key_line(other)}\n")
        onboard._append(known, f"{key_name(pinned)} {line}\n")
        assert onboard.pinned_keys(known, key_name(pinned)) == [line]
        assert parse_key(line).line == line


@SLOW
@given(
    account=accounts,
    workspace=ANY_TEXT.filter(lambda text: "\x00" not in text).map(lambda text: f"/{text}"),
)
def test_the_gateway_configuration_reads_back_as_written(account: str, workspace: str) -> None:
    """gateway.toml (root writes it in gateway setup): any workspace path."""
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "gateway.toml"
        config.write_text(config_text(account, Path(workspace)), encoding="utf-8")
        read = session._read_model(config, str(config), session.GatewayConfig)
        assert (read.account, read.workspace) == (account, str(Path(workspace)))


def test_tendr_toml_as_init_writes_it_reads_back(tmp_path: Path) -> None:
    """tendr init writes tendr.toml from its template (nothing of anyone's in it)."""
    from tendr.workspace.init import create_workspace

    create_workspace(tmp_path / "ws", ME)
    assert load(tmp_path / "ws").settings.known_hosts == "known_hosts"


# -- the rocket through the command line ------------------------------------------------


def test_a_grant_s_reason_in_any_script_leaves_the_workspace_readable(tmp_path: Path) -> None:
    ws = str(build_tree(tmp_path / "ws", WORKSPACE))
    reason = 'ticket 🚀 call «Zürich» "quoted" \\ back'
    code, output = run_tendr("grant", "dave", "admin", "--for", "2h", "--reason", reason, "-w", ws)
    assert code == 0, output
    written = (Path(ws) / GRANTS_FILE).read_text(encoding="utf-8")
    assert "🚀" in written and "\\ud83d" not in written
    assert run_tendr("validate", "-w", ws)[0] == 0
    code, output = run_tendr("rules", "list", "-w", ws, "--format", "json")
    assert code == 0, output
    (made,) = json.loads(output)["grants"]
    assert made["reason"] == reason
    code, output = run_tendr("grant", "revoke", made["id"], "-w", ws)
    assert code == 0, output
    code, output = run_tendr("validate", "-w", ws)
    assert code == 0, output
    assert json.loads(run_tendr("rules", "list", "-w", ws, "--format", "json")[1])["grants"] == []


# -- the gateway's configuration, read when asked -----------------------------------------


def test_the_gateway_configuration_is_looked_up_when_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Where CONFIG is at the call, not where it was when the module loaded (a test on a
    machine that is itself a gateway points it elsewhere)."""
    monkeypatch.setattr(session, "CONFIG", tmp_path / "absent.toml")
    assert session.read_config() is None
    if os.geteuid() == 0:
        config = tmp_path / "gateway.toml"
        config.write_text(config_text("tendr", Path("/srv/tendr")))
        monkeypatch.setattr(session, "CONFIG", config)
        found = session.read_config()
        assert found is not None and found.workspace == "/srv/tendr"
