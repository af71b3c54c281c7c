"""The printer kind (a driver): a CUPS queue, and the packages its driver needs.

Facts come from lpstat, lpoptions and the queue's PPD; changes are lpadmin, cupsenable
and cupsaccept. Two CUPS traps are checked, never trusted: options given to lpadmin
can be silently ignored (each is read back after it is set), and a driverless queue
made while its printer does not answer is silently made without a driver (the queue
is removed again, and apply says why).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator

from tendr.base.changes import Action, Change, FieldChange, Run, Step, Unreadable
from tendr.base.names import PackageName, PrinterName, anchored
from tendr.base.scripts import script
from tendr.kinds.base import ResourceSpec
from tendr.kinds.kind import Context, Fact, Kind, OnDemand, Problem, unknown

# The backends CUPS has for printers (lpinfo -v); file: and the like are left out.
SCHEMES = "ipp ipps http https socket lpd usb dnssd smb hp hpfax parallel serial ippusb".split()
# Device URIs as lpadmin -v takes them: a scheme and printable, unquoted characters.
_URI = re.compile(r"(?:" + "|".join(SCHEMES) + r"):[A-Za-z0-9._~:/?#\[\]@!&()*+,;=%-]*")
# 'everywhere' (IPP Everywhere), 'raw', or a model name from `lpinfo -m` (drv:///..., lsb/...).
_DRIVER = re.compile(r"everywhere|raw|[A-Za-z0-9][A-Za-z0-9._:/+-]*")
# Option names as CUPS has them (IPP's media, sides; a PPD's PageSize, Duplex) and
# values of the characters they use; nothing a shell or lpadmin would read otherwise.
_OPTION = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_OPTION_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.,:-]{0,127}")
# Options tendr sets through their own fields.
_OWN_OPTIONS = {
    "device-uri",
    "printer-info",
    "printer-location",
    "printer-is-shared",
    "printer-is-accepting-jobs",
    "printer-state",
}


class PrinterSpec(ResourceSpec):
    """A CUPS print queue.

    ```toml
    [[printer]]
    name = "frontdesk"
    uri = "ipp://192.0.2.50/ipp/print"
    driver = "everywhere"          # or a model from `lpinfo -m`, e.g. "drv:///hpcups.drv/..."
    packages = ["printer-driver-hpcups"]
    default = true
    enabled = true
    accepting = true
    shared = false
    description = "Front desk laser"
    location = "Reception"
    ```
    """

    kind: ClassVar[str] = "printer"
    identity: ClassVar[str] = "name"

    name: PrinterName
    """The CUPS queue name, such as "frontdesk"."""
    uri: str | None = Field(default=None, json_schema_extra={"pattern": anchored(_URI.pattern)})
    """The device URI, such as "ipp://192.0.2.50/ipp/print" (see `lpinfo -v`); needed to
    create the queue. Schemes: ipp, ipps, http, https, socket, lpd, usb, dnssd, smb, hp,
    hpfax, parallel, serial, ippusb; no password in it."""
    driver: str = Field(
        default="everywhere", json_schema_extra={"pattern": anchored(_DRIVER.pattern)}
    )
    """The driver: IPP Everywhere ("everywhere", driverless), "raw", or a model from
    `lpinfo -m`."""
    packages: list[PackageName] = []
    """Driver packages the queue needs, installed first."""
    default: bool | None = None
    """true: the host's default printer. Unset: left alone."""
    enabled: bool = True
    """Whether the queue prints (cupsenable / cupsdisable)."""
    accepting: bool = True
    """Whether the queue accepts jobs (cupsaccept / cupsreject)."""
    shared: bool = False
    """Whether the queue is shared on the network."""
    description: str | None = None
    """The queue's description, one line."""
    location: str | None = None
    """Where the printer is, one line, such as "Reception"."""
    options: dict[str, str] = {}
    """Default options, each read back once set (CUPS ignores what the printer or its
    driver does not offer): IPP names such as { media = "iso_a4_210x297mm", sides =
    "two-sided-long-edge" }, or the PPD's own, such as { PageSize = "A4" }."""
    present: bool = True
    """true: the queue exists; false: it is removed."""

    @property
    def same_key(self) -> str:
        """CUPS compares queue names ignoring case: `FRONTDESK` is the queue `frontdesk`."""
        return self.name.casefold()

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not _URI.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a device URI such as 'ipp://host/ipp/print' (schemes: "
                f"{', '.join(SCHEMES)})"
            )
        # CUPS reads everything before the '@' as user:password, whatever it holds; and
        # lpstat shows a queue's URI to every account: a password there is public.
        rest = unquote(value.partition(":")[2])  # backends decode %3A to ':'
        if "@" in rest and ":" in rest.partition("@")[0].lstrip("/"):
            raise ValueError("a device URI with a password in it is refused (USER:PASSWORD@)")
        return value

    @field_validator("options")
    @classmethod
    def _options(cls, value: dict[str, str]) -> dict[str, str]:
        for key, option in value.items():
            if not _OPTION.fullmatch(key) or key.endswith("-default") or key in _OWN_OPTIONS:
                raise ValueError(
                    f"{key!r} is not an option name tendr sets this way (letters, digits, _ -; "
                    "not the URI, description, location or sharing, which have their fields)"
                )
            if not _OPTION_VALUE.fullmatch(option):
                raise ValueError(f"option {key} = {option!r}: use letters, digits and _ . , : -")
        return value

    @field_validator("driver")
    @classmethod
    def _driver(cls, value: str) -> str:
        if not _DRIVER.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a driver: 'everywhere', 'raw' or a model from `lpinfo -m`"
            )
        return value

    @field_validator("description", "location")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is not None and any(c in value for c in "\n\r\x00"):
            raise ValueError("must be a single line")
        return value


# -- facts, diff and steps -------------------------------------------------------

PPD_DIR = "/etc/cups/ppd"
# cupsd keeps its queues here and writes it as it stops; root's alone (0600). With the
# scheduler stopped, lpstat and lpoptions know no queue: this file and the PPDs do.
PRINTERS_CONF = "/etc/cups/printers.conf"
EVERYWHERE_PPD = "ippeve.ppd"  # the PCFileName of every PPD CUPS makes for IPP Everywhere
RAW = "Local Raw Printer"  # a raw queue's make and model
_PORTS = {"ipp": 631, "ipps": 631, "http": 631, "https": 443, "socket": 9100, "lpd": 515}
_STOPPED = "5"  # printer-state: 3 idle, 4 printing, 5 stopped
START_CUPS = ("systemctl", "enable", "--now", "cups.service")


def drivers(spec: PrinterSpec) -> list[tuple[str, str]]:
    """CUPS itself, and the packages the driver comes in."""
    if not spec.present:
        return []
    return [("", "cups")] + [(f".packages[{i}]", name) for i, name in enumerate(spec.packages)]


@dataclass(frozen=True)
class PrinterActual:
    """A CUPS queue as lpstat, lpoptions and its PPD show it. `cups` is "" when the
    scheduler runs; "missing" (not installed: no queue); or "stopped", when the queue
    comes from printers.conf and its PPD, and its options, jobs and the driver models
    installed cannot be known. `name` is the queue's name on the host, whatever case
    the state gives it."""

    cups: str = ""
    exists: bool = False
    name: str = ""
    uri: str = ""
    options: dict[str, str] = field(default_factory=dict)
    ppd: dict[str, str] = field(default_factory=dict)  # PCFileName, NickName
    choices: dict[str, str] = field(default_factory=dict)  # PPD option -> its default
    default: bool = False
    jobs: int = 0
    oldest_job: str = ""
    answers: bool | None = None  # whether the printer accepts a connection; None: not tried
    models: dict[str, str] = field(default_factory=dict)  # lpinfo -m: model -> description

    @property
    def driver(self) -> str:
        """The driver as a state names it, or the PPD's model name."""
        if self.ppd.get("PCFileName") == EVERYWHERE_PPD:
            return "everywhere"
        if not self.ppd:
            return "raw"
        return self.ppd.get("NickName") or self.options.get("printer-make-and-model", "?")

    @property
    def enabled(self) -> bool:
        return self.options.get("printer-state") != _STOPPED

    @property
    def accepting(self) -> bool:
        return self.options.get("printer-is-accepting-jobs") == "true"

    def summary(self) -> str:
        """What the queue uses now, in one line: why printing fails, at a glance."""
        state = {"3": "idle", "4": "printing", "5": "stopped"}.get(
            self.options.get("printer-state", ""), "in an unknown state"
        )
        reasons = self.options.get("printer-state-reasons", "none")
        if self.cups == "stopped":
            return f"now: driver {self.driver}, {self.uri or 'no URI'}, {state}, CUPS not running"
        jobs = f"{self.jobs} job(s) waiting" if self.jobs else "no jobs waiting"
        if self.jobs and self.oldest_job:
            jobs += f", the oldest: {self.oldest_job}"
        return (
            f"now: driver {self.driver}, {self.uri or 'no URI'}, {state}"
            + (f" ({reasons})" if reasons != "none" else "")
            + f", {jobs}"
        )


def _endpoint(uri: str) -> tuple[str, int] | None:
    """The host and port a network printer's URI points at; None for the others."""
    parts = urlsplit(uri)
    if parts.scheme not in _PORTS or not parts.hostname:
        return None
    try:
        return parts.hostname, parts.port or _PORTS[parts.scheme]
    except ValueError:  # a port out of range: lpadmin says so when it is used
        return None


def _models(specs: Sequence[PrinterSpec]) -> list[str]:
    return sorted({s.driver for s in specs if s.present and s.driver not in ("everywhere", "raw")})


# Whether CUPS is there, and how one queue is read (tendr_printer_queue) and the models
# lpinfo offers (tendr_printer_models): its paths set before it.
_PROBE = script("tendr.kinds", "printer-probe")


def _answers(spec: PrinterSpec) -> str:
    """Whether the printer answers (a TCP connection, given 3 seconds), asked only where
    a driverless queue is to be set up: CUPS then needs the printer, and makes the queue
    without a driver when it does not answer. A queue that has its driverless PPD needs
    no printer to be in sync ($o: what was read of the queue)."""
    endpoint = _endpoint(spec.uri or "") if spec.present and spec.driver == "everywhere" else None
    if endpoint is None:
        return ""
    host, port = endpoint
    return (
        f'case "$o" in *\'PCFileName: "{EVERYWHERE_PPD}"\'*) ;; *) '
        "if timeout 3 bash -c 'exec 3<>\"/dev/tcp/$0/$1\"' "
        f"{shlex.quote(host)} {port} 2>/dev/null; then printf 'R\\tyes\\n'; "
        "else printf 'R\\tno\\n'; fi ;; esac; "
    )


def probe(specs: Sequence[PrinterSpec]) -> str:
    parts = [
        f"tendr_ppd={shlex.quote(PPD_DIR)} tendr_printers_conf={shlex.quote(PRINTERS_CONF)}\n",
        _PROBE,
    ]
    if models := _models(specs):
        parts.append(f"tendr_printer_models {shlex.join(models)}\n")
    for spec in specs:
        parts.append(
            f"printf 'P\\t%s\\n' {shlex.quote(spec.name)}; "
            f"o=$(tendr_printer_queue {shlex.quote(spec.name)} "
            f"{shlex.quote(spec.name.lower())} {shlex.quote('|'.join(spec.options))}); "
            '[ -n "$o" ] && printf \'%s\\n\' "$o"; ' + _answers(spec) + "\n"
        )
    return "".join(parts) + "true\n"


def parse(specs: Sequence[PrinterSpec], lines: list[str]) -> dict[str, Any]:
    head = lines[0] if lines else ""
    cups = {"@cups": "", "@nocups": "missing", "@stopped": "stopped"}.get(head)
    if cups is None:
        return {spec.key: Unreadable("the host did not report on CUPS") for spec in specs}
    if cups == "stopped" and lines[1:2] == ["U"]:
        return {
            spec.key: Unreadable(f"CUPS is not running, and {PRINTERS_CONF} could not be read")
            for spec in specs
        }
    default, models, blocks = _sections(lines[1:])
    found: dict[str, Any] = {}
    for spec in specs:
        block = blocks.get(spec.name, [] if cups == "missing" else None)  # no CUPS: no queue
        if block is None:
            found[spec.key] = Unreadable(f"the host did not report on the queue {spec.name}")
            continue
        try:
            found[spec.key] = _queue(spec, block, default, models, cups)
        except ValueError as exc:  # lpoptions' quoting not as expected
            found[spec.key] = Unreadable(f"the queue {spec.name} could not be read: {exc}")
    return found


def _sections(lines: list[str]) -> tuple[str, dict[str, str], dict[str, list[str]]]:
    """The default queue, the models lpinfo offers, and each queue's lines."""
    default = ""
    models: dict[str, str] = {}
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        tag, _, value = line.partition("\t")
        if tag == "D":
            default = value.partition("system default destination: ")[2]
        elif tag == "M":
            model, _, description = value.partition(" ")
            models[model] = description
        elif tag == "P":
            current = blocks.setdefault(value, [])
        elif current is not None:
            current.append(line)
    return default, models, blocks


_OPTION_START = re.compile(r"\s+[a-z][a-z0-9-]*(?:=|\s|$)")


def lpoptions(line: str) -> dict[str, str]:
    """`lpoptions -p` as {name: value}. CUPS quotes a value holding a space in '...' but
    escapes nothing inside ("printer-info='Bob's printer'"), so a quoted value ends at
    the first quote that is followed by the next option or the end of the line."""
    found: dict[str, str] = {}
    at = 0
    line = line.strip()
    while at < len(line):
        key_end = at
        while key_end < len(line) and line[key_end] not in "= ":
            key_end += 1
        key = line[at:key_end]
        if key_end >= len(line) or line[key_end] == " ":
            found[key], at = "", key_end + 1
            continue
        start = key_end + 1
        if line.startswith("'", start):
            end = start + 1
            while True:
                end = line.find("'", end)
                if end < 0 or end + 1 == len(line) or _OPTION_START.match(line, end + 1):
                    break
                end += 1
            if end < 0:
                raise ValueError(f"the value of {key} has no closing quote")
            found[key], at = line[start + 1 : end], end + 2
        else:
            end = line.find(" ", start)
            end = len(line) if end < 0 else end
            found[key], at = line[start:end], end + 1
    return found


def _queue(
    spec: PrinterSpec, block: list[str], default: str, models: dict[str, str], cups: str
) -> PrinterActual | Unreadable:
    values: dict[str, list[str]] = {}
    for line in block:
        tag, _, value = line.partition("\t")
        values.setdefault(tag, []).append(value)
    answers = {"yes": True, "no": False}.get(values.get("R", [""])[0])
    ppd = {}
    for line in values.get("F", []):
        key, _, value = line.partition(": ")
        ppd[key] = value.strip().strip('"')
    name = values.get("N", [spec.name])[0]
    if cups == "stopped":
        if "G" in values:
            return Unreadable(
                f"CUPS is not running, and {PRINTERS_CONF} does not list the queue "
                f"{values['G'][0]} its PPD is for: plan again once CUPS runs"
            )
        if "N" not in values:
            return PrinterActual(cups=cups, answers=answers)
        return _from_conf(name, values, ppd, answers)
    if "V" not in values:
        return PrinterActual(cups=cups, answers=answers, models=models)
    options = lpoptions(values.get("O", [""])[0])
    choices = {}
    for line in values.get("K", []):
        key = line.partition("/")[0]
        starred = [w[1:] for w in line.partition(": ")[2].split() if w.startswith("*")]
        choices[key] = starred[0] if starred else ""
    jobs = values.get("J", ["0"])[0].strip()
    return PrinterActual(
        exists=True,
        name=name,
        uri=values["V"][0],
        options=options,
        ppd=ppd,
        choices=choices,
        default=default.lower() == name.lower(),
        jobs=int(jobs) if jobs.isdigit() else 0,
        oldest_job=values.get("W", [""])[0],
        answers=answers,
        models=models,
    )


def _from_conf(
    name: str, values: dict[str, list[str]], ppd: dict[str, str], answers: bool | None
) -> PrinterActual:
    """A queue as printers.conf keeps it, in lpoptions' words."""
    conf: dict[str, str] = {}
    for line in values.get("C", []):
        key, _, value = line.partition("\t")
        conf[key] = value
    options = {
        "printer-info": conf.get("Info", ""),
        "printer-location": conf.get("Location", ""),
        "printer-is-shared": str(conf.get("Shared") == "Yes").lower(),
        "printer-is-accepting-jobs": str(conf.get("Accepting") == "Yes").lower(),
        "printer-state": _STOPPED if conf.get("State") == "Stopped" else "3",
    }
    return PrinterActual(
        cups="stopped",
        exists=True,
        name=name,
        uri=conf.get("DeviceURI", ""),
        options=options,
        ppd=ppd,
        default="Y" in values,
        answers=answers,
    )


def diff(spec: PrinterSpec, actual: PrinterActual | Unreadable, context: Context) -> list[Change]:
    if isinstance(actual, Unreadable):
        return unknown(spec, actual)
    if not spec.present:
        return _removal(spec, actual)
    stopped = actual.cups == "stopped"
    changes = []
    started = [c.id for c in context.planned("printer.enable") if "cups" in c.after()]
    if stopped and not started:
        changes.append(_start(spec))  # once per host: its own finding, not the queue's
        started = [changes[0].id]
    # Every change of the queue waits on CUPS and its drivers installed, and CUPS started.
    needs = _drivers_needed(spec, context) + tuple(started)
    if not actual.exists:
        return changes + _needing(_add(spec, actual, needs), needs)
    configured = len(changes)
    if fields := _configure(spec, actual):
        note = actual.summary()
        if any(f.name == "driver" for f in fields) and actual.answers is False:
            note = f"{_silent(spec)}{_NO_DRIVER}; the queue {note}"
        changes.append(_change(spec, "printer.configure", "change", fields, note=note))
    # What the queue uses now is said once, on its first change.
    changes += _state(spec, actual, "" if len(changes) > configured else actual.summary())
    # CUPS's start (the first change, when planned here) is not among the queue's own.
    changes = changes[:configured] + _needing(changes[configured:], needs)
    if spec.default is False and actual.default:
        changes += unknown(
            spec,
            Unreadable(
                "it is the host's default printer: tendr does not leave a host without one; "
                "declare another queue with default = true"
            ),
        )
    if stopped and (unseen := _unseen(spec)):
        changes += unknown(
            spec,
            Unreadable(
                f"CUPS is not running: the queue's {unseen} cannot be read without it; "
                "plan again once it runs"
            ),
        )
    return changes


def _needing(changes: list[Change], needs: tuple[str, ...]) -> list[Change]:
    """The changes apply makes, each needing `needs`; those it cannot (`?`) as they are."""
    return [c if c.action == "unknown" else replace(c, needs=needs) for c in changes]


def _removal(spec: PrinterSpec, actual: PrinterActual) -> list[Change]:
    if not actual.exists:
        return []
    if actual.cups == "stopped":
        return unknown(
            spec,
            Unreadable(
                "CUPS is not running, so the queue cannot be removed now: tendr starts CUPS "
                "only for the queues it keeps; plan again once it runs"
            ),
        )
    return [_change(spec, "printer.remove", "remove", (FieldChange("exists", True, False),))]


def _start(spec: PrinterSpec) -> Change:
    return _change(
        spec,
        "printer.enable",
        "change",
        (FieldChange("cups", "not running", "running"),),
        note="CUPS is not running, so no queue prints: apply starts it; its queues stay as "
        "they are",
    )


def _unseen(spec: PrinterSpec) -> str:
    """What the state declares that only a running CUPS tells (lpoptions, lpinfo)."""
    unseen = ["options"] if spec.options else []
    if spec.driver not in ("everywhere", "raw"):
        unseen.append("driver model")
    return " and ".join(unseen)


_NO_DRIVER = ": a queue made now would have no driver, so apply fails until it does"


def _silent(spec: PrinterSpec) -> str:
    host, port = _endpoint(spec.uri or "") or ("?", 0)
    return f"the printer at {host}:{port} does not answer"


def _change(
    spec: PrinterSpec,
    op: str,
    action: Action,
    fields: tuple[FieldChange, ...],
    *,
    note: str = "",
) -> Change:
    return Change(
        kind="printer", resource=spec.name, op=op, action=action, fields=fields, note=note
    )


def _drivers_needed(spec: PrinterSpec, context: Context) -> tuple[str, ...]:
    """The planned installs of CUPS and the queue's driver packages."""
    needed = {"cups", *(name.split(":")[0] for name in spec.packages)}
    return tuple(
        c.id
        for c in context.earlier
        if c.op in ("driver.install", "package.install")
        and c.action != "unknown"
        and c.resource.split(":")[0] in needed
    )


def _add(spec: PrinterSpec, actual: PrinterActual, needs: tuple[str, ...]) -> list[Change]:
    if spec.uri is None:
        return unknown(
            spec, Unreadable("the queue does not exist, and the state gives no uri to make it")
        )
    fields = [
        FieldChange("uri", None, spec.uri),
        FieldChange("driver", None, spec.driver),
        FieldChange("enabled", None, spec.enabled),
        FieldChange("accepting", None, spec.accepting),
        FieldChange("shared", None, spec.shared),
    ]
    for name, value in (
        ("description", spec.description),
        ("location", spec.location),
        ("default", spec.default or None),
    ):
        if value is not None:
            fields.append(FieldChange(name, None, value))
    fields += [
        FieldChange(f"option_{k}", None, v, label=f"option {k}") for k, v in spec.options.items()
    ]
    note = ""
    if actual.answers is False:
        note = _silent(spec) + _NO_DRIVER
    elif not needs and actual.cups == "" and _model_missing(spec, actual):
        note = _MODEL_MISSING
    return [_change(spec, "printer.add", "add", tuple(fields), note=note)]


_MODEL_MISSING = (
    "no installed driver offers this model (`lpinfo -m`): declare the package that "
    "provides it in the printer's packages"
)


def _model_missing(spec: PrinterSpec, actual: PrinterActual) -> bool:
    return spec.driver not in ("everywhere", "raw") and spec.driver not in actual.models


def _driver_matches(spec: PrinterSpec, actual: PrinterActual) -> bool:
    if spec.driver in ("everywhere", "raw"):
        return actual.driver == spec.driver
    if actual.cups == "stopped":  # lpinfo needs the scheduler: said as not known
        return True
    wanted = actual.models.get(spec.driver)
    return wanted is not None and actual.ppd.get("NickName") == wanted


def _configure(spec: PrinterSpec, actual: PrinterActual) -> tuple[FieldChange, ...]:
    fields = []
    if spec.uri is not None and spec.uri != actual.uri:
        fields.append(FieldChange("uri", actual.uri, spec.uri))
    if not _driver_matches(spec, actual):
        fields.append(FieldChange("driver", actual.driver, spec.driver))
    shared = actual.options.get("printer-is-shared") == "true"
    if shared != spec.shared:
        fields.append(FieldChange("shared", shared, spec.shared))
    for name, key, wanted in (
        ("description", "printer-info", spec.description),
        ("location", "printer-location", spec.location),
    ):
        if wanted is not None and actual.options.get(key, "") != wanted:
            fields.append(FieldChange(name, actual.options.get(key, ""), wanted))
    for key, wanted in spec.options.items() if actual.cups != "stopped" else ():
        have = actual.choices[key] if key in actual.choices else actual.options.get(key)
        if have != wanted:
            fields.append(FieldChange(f"option_{key}", have, wanted, label=f"option {key}"))
    if spec.default and not actual.default:
        fields.append(FieldChange("default", False, True))
    return tuple(fields)


def _state(spec: PrinterSpec, actual: PrinterActual, note: str) -> list[Change]:
    """cupsenable/cupsdisable and cupsaccept/cupsreject, as enable and disable."""
    enable: list[FieldChange] = []
    disable: list[FieldChange] = []
    for name, wanted, have in (
        ("enabled", spec.enabled, actual.enabled),
        ("accepting", spec.accepting, actual.accepting),
    ):
        if wanted != have:
            (enable if wanted else disable).append(FieldChange(name, have, wanted))
    changes = []
    if enable:
        changes.append(_change(spec, "printer.enable", "change", tuple(enable), note=note))
    if disable:
        said = note if not enable else ""
        changes.append(_change(spec, "printer.disable", "change", tuple(disable), note=said))
    return changes


# After lpadmin -m everywhere: whether CUPS made the queue without a driver (the printer
# did not answer), waiting PPD_WAIT tenths of a second at most for the driverless PPD.
_CHECK_DRIVERLESS = script("tendr.kinds", "printer-driverless")
PPD_WAIT = 100  # 10 s

# Sets each option and reads every one back: CUPS drops what it does not offer.
_SET_OPTIONS = script("tendr.kinds", "printer-options")


def steps(spec: PrinterSpec, change: Change, context: Context) -> list[Step]:
    changed = change.after()
    if "cups" in changed:
        return [Run(START_CUPS)]
    # The queue the host has (its name may differ from the state's in case, and the
    # driverless check reads its PPD by that name), or the one to make.
    name = change.resolved or spec.name
    if change.op == "printer.remove":
        return [Run(("lpadmin", "-x", name))]
    if change.op in ("printer.enable", "printer.disable"):
        enable = change.op == "printer.enable"
        found: list[Step] = []
        if "enabled" in changed:
            found.append(Run(("cupsenable" if enable else "cupsdisable", name)))
        if "accepting" in changed:
            found.append(Run(("cupsaccept" if enable else "cupsreject", name)))
        return found
    return _queue_steps(spec, name, change.op == "printer.add", set(changed))


def _queue_steps(spec: PrinterSpec, name: str, added: bool, changed: set[str]) -> list[Step]:
    """Make the queue (added: every field is in `changed`) or change the fields named;
    settings after the queue is made, since lpadmin may ignore those given as it makes one."""
    found: list[Step] = []
    if added and spec.uri is not None:  # the plan adds no queue without a URI
        found.append(Run(("lpadmin", "-p", name, "-v", spec.uri, "-m", spec.driver)))
    elif "uri" in changed and spec.uri is not None:
        found.append(Run(("lpadmin", "-p", name, "-v", spec.uri)))
    if "driver" in changed and not added:
        found.append(Run(("lpadmin", "-p", name, "-m", spec.driver)))
    if "driver" in changed and spec.driver == "everywhere":
        found.append(Run(driverless_check(name, added)))
    if settings := _settings(spec, changed):
        found.append(Run(("lpadmin", "-p", name, *settings)))
    if options := [f"{k}={v}" for k, v in spec.options.items() if f"option_{k}" in changed]:
        found.append(Run(("sh", "-c", _SET_OPTIONS, "sh", name, *options)))
    if added:
        found.append(Run(("cupsenable" if spec.enabled else "cupsdisable", name)))
        found.append(Run(("cupsaccept" if spec.accepting else "cupsreject", name)))
    if "default" in changed:
        found.append(Run(("lpadmin", "-d", name)))
    return found


def driverless_check(name: str, added: bool, wait: int = PPD_WAIT) -> tuple[str, ...]:
    """The command checking that the driverless queue `name` got its PPD, waiting `wait`
    tenths of a second at most; a queue just made (`added`) is removed again when not."""
    return ("sh", "-c", _CHECK_DRIVERLESS, "sh", name, "1" if added else "0", PPD_DIR, str(wait))


def _settings(spec: PrinterSpec, changed: set[str]) -> list[str]:
    """lpadmin's arguments for the sharing, description and location that change."""
    found = []
    if "shared" in changed:
        found += ["-o", f"printer-is-shared={str(spec.shared).lower()}"]
    if "description" in changed and spec.description is not None:
        found += ["-D", spec.description]
    if "location" in changed and spec.location is not None:
        found += ["-L", spec.location]
    return found


def reachability(specs: Sequence[PrinterSpec]) -> str:
    """A script asking, at once, whether each declared network printer answers (a TCP
    connection from the host, 3 s): its health, which diagnose reports; not drift."""
    checks = []
    for spec in specs:
        if spec.present and (endpoint := _endpoint(spec.uri or "")):
            host, port = endpoint
            checks.append(
                "{ if timeout 3 bash -c 'exec 3<>\"/dev/tcp/$0/$1\"' "
                f"{shlex.quote(host)} {port} 2>/dev/null; then a=yes; else a=no; fi; "
                f"printf 'A\\t%s\\t%s\\t%s\\n' {shlex.quote(spec.name)} "
                f"{shlex.quote(f'{host}:{port}')} $a; }} &\n"
            )
    return "".join(checks) + "wait\n" if checks else ""


def silent(lines: Sequence[str]) -> list[tuple[str, str]]:
    """(queue, host:port) of each printer that did not answer, as `reachability` says."""
    found = []
    for line in lines:
        tag, name, where, answers = (line.split("\t") + ["", "", ""])[:4]
        if tag == "A" and answers == "no":
            found.append((name, where))
    return sorted(found)


def health(specs: Sequence[PrinterSpec]) -> Fact[list[Problem]] | None:
    """The declared network printers that do not answer the host: their health (the plan
    counts a queue as declared in sync whatever its printer's power)."""
    if not (asked := reachability(specs)):
        return None
    return Fact(asked, _silent_problems)


def _silent_problems(lines: list[str]) -> list[Problem]:
    return [
        Problem(
            "printer",
            f"the printer of queue {name} at {where} does not answer",
            "it is switched off, unplugged or out of this host's reach: jobs wait in its queue",
        )
        for name, where in silent(lines)
    ]


def _on_demand(enable: bool) -> OnDemand:
    """`tendr do printer.enable QUEUE` (or disable): it prints and accepts jobs, or not."""

    def build(resource: str) -> tuple[ResourceSpec, tuple[FieldChange, ...]]:
        fields = (FieldChange("enabled", None, enable), FieldChange("accepting", None, enable))
        return PrinterSpec(name=resource), fields

    return OnDemand(build)


def names(spec: PrinterSpec, actual: PrinterActual | Unreadable) -> tuple[str, ...]:
    """The queue's name on the host (CUPS ignores case: FRONTDESK may be its frontdesk),
    or the state's for a queue still to be made."""
    return (actual.name or spec.name,) if isinstance(actual, PrinterActual) else (spec.name,)


KIND: Kind[PrinterSpec] = Kind(
    "printer",
    PrinterSpec,
    probe,
    parse,
    diff,
    steps,
    title="CUPS print queues",
    verbs=("add", "configure", "enable", "disable", "remove"),
    drivers=drivers,
    names=names,
    on_demand={"printer.enable": _on_demand(True), "printer.disable": _on_demand(False)},
    health=health,
    area="printer",
)
