"""Properties of the pure diffs: a state diffed with itself is empty, and applying a
diff's changes to the actual state (simulated here) yields the desired state."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tendr.base.changes import Change
from tendr.kinds.file import FileActual, FileSpec
from tendr.kinds.file import diff as file_diff
from tendr.kinds.kind import Context
from tendr.kinds.package import PackageActual, PackageSpec
from tendr.kinds.package import diff as package_diff
from tendr.kinds.service import ServiceActual, ServiceSpec
from tendr.kinds.service import diff as service_diff

CTX = Context()
modes = st.sampled_from(["0644", "0600", "0755", "0640"])
accounts = st.sampled_from(["root", "daemon", "lp"])
maybe = st.none() | st.booleans()


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


file_specs = st.builds(
    FileSpec,
    path=st.sampled_from(["/etc/motd", "/srv/a b/c"]),
    content=st.none() | st.text(max_size=20),
    mode=st.none() | modes,
    owner=st.none() | accounts,
    group=st.none() | accounts,
) | st.builds(FileSpec, path=st.just("/etc/old"), present=st.just(False))

file_actuals = st.builds(FileActual, type=st.just("absent")) | st.builds(
    FileActual,
    type=st.just("file"),
    mode=modes.map(lambda m: m.lstrip("0")),
    owner=accounts,
    group=accounts,
    size=st.integers(0, 99),
    sha256=st.text(max_size=3).map(sha),
)

package_specs = st.builds(
    PackageSpec, name=st.sampled_from(["hello", "tree"]), present=st.booleans()
)
package_actuals = st.builds(PackageActual, installed=st.booleans(), version=st.just("1.0"))

service_specs = st.builds(
    ServiceSpec,
    unit=st.just("demo.service"),
    enabled=maybe,
    running=maybe,
    content=st.none() | st.text(max_size=10),
    dropins=st.dictionaries(st.sampled_from(["10-a.conf", "20-b.conf"]), st.text(max_size=5)),
) | st.builds(ServiceSpec, unit=st.just("demo.service"), masked=st.just(True))


@st.composite
def service_actuals(draw: st.DrawFn, spec: ServiceSpec) -> ServiceActual:
    load = draw(st.sampled_from(["loaded", "not-found", "masked"]))
    active, sub = draw(
        st.sampled_from([("active", "running"), ("inactive", "dead"), ("failed", "failed")])
    )
    state = "masked" if load == "masked" else draw(st.sampled_from(["enabled", "disabled"]))
    return ServiceActual(
        load=load,
        active=active if load != "not-found" else "inactive",
        sub=sub,
        unit_file_state=state,
        unit_file=draw(file_actuals),
        dropins={name: draw(file_actuals) for name in spec.dropins},
    )


def simulate_file(
    actual: FileActual,
    change: Change,
    content: str | None,
    mode: str | None,
    owner: str | None,
    group: str | None,
) -> FileActual:
    if change.op.endswith("remove"):
        return FileActual("absent")
    base = (
        actual if actual.type == "file" else FileActual("file", "644", "root", "root", 0, sha(""))
    )
    return replace(
        base,
        sha256=sha(content) if content is not None else base.sha256,
        mode=mode or base.mode,
        owner=owner or base.owner,
        group=group or base.group,
    )


def simulate_service(spec: ServiceSpec, actual: ServiceActual, change: Change) -> ServiceActual:
    verb = change.op.partition(".")[2]
    updates: dict[str, Any] = {
        "start": {"active": "active", "sub": "running"},
        "restart": {"active": "active", "sub": "running"},
        "stop": {"active": "inactive", "sub": "dead"},
        "enable": {"unit_file_state": "enabled"},
        "disable": {"unit_file_state": "disabled"},
        "mask": {"load": "masked", "unit_file_state": "masked"},
        "unmask": {"load": "loaded", "unit_file_state": "disabled"},
    }.get(verb, {})
    if verb == "configure":
        unit = (
            actual.unit_file
            if spec.content is None
            else simulate_file(actual.unit_file, change, spec.content, "0644", "root", "root")
        )
        dropins = {
            n: simulate_file(actual.dropins[n], change, t, "0644", "root", "root")
            for n, t in spec.dropins.items()
        }
        load = "loaded" if actual.load == "not-found" else actual.load
        state = "disabled" if actual.unit_file_state == "none" else actual.unit_file_state
        return replace(actual, unit_file=unit, dropins=dropins, load=load, unit_file_state=state)
    return replace(actual, **updates)


@given(file_specs)
def test_file_in_sync_with_itself(spec: FileSpec) -> None:
    """A file that is exactly as desired needs no change."""
    actual = (
        FileActual("absent")
        if not spec.present
        else FileActual(
            "file",
            spec.mode or "644",
            spec.owner or "root",
            spec.group or "root",
            0,
            sha(spec.content or ""),
        )
    )
    assert file_diff(spec, actual, CTX) == []


@given(file_specs, file_actuals)
def test_file_changes_reach_desired(spec: FileSpec, actual: FileActual) -> None:
    """Applying a file's changes to its actual state yields the desired state."""
    for change in file_diff(spec, actual, CTX):
        actual = simulate_file(actual, change, spec.content, spec.mode, spec.owner, spec.group)
    assert file_diff(spec, actual, CTX) == []


@given(package_specs, package_actuals)
def test_package_changes_reach_desired(spec: PackageSpec, actual: PackageActual) -> None:
    """Installing or removing as planned leaves nothing to do; in sync stays in sync."""
    for change in package_diff(spec, actual, CTX):
        actual = PackageActual(installed=change.op == "package.install")
    assert package_diff(spec, actual, CTX) == []


@given(service_specs.flatmap(lambda s: st.tuples(st.just(s), service_actuals(s))))
def test_service_changes_reach_desired(pair: tuple[ServiceSpec, ServiceActual]) -> None:
    """Applying a unit's planned changes in order yields the desired unit state."""
    spec, actual = pair
    for change in service_diff(spec, actual, CTX):
        actual = simulate_service(spec, actual, change)
    assert service_diff(spec, actual, CTX) == []
