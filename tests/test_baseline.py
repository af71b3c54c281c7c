"""tendr's baseline: on every SSH host unless it opts out, never on the local machine,
and a state's own declaration of the same resource prevails."""

from __future__ import annotations

from pathlib import Path

from tendr.workspace import baseline
from tendr.workspace.loader import load
from tests.helpers import ADMIN_RULES, build_tree

HOSTS = """\
[defaults]
connector = "ssh"

[hosts.kept]
address = "192.0.2.1"

[hosts.out]
address = "192.0.2.2"
health = false
"""


def test_the_baseline_is_kept_where_asked(tmp_path: Path) -> None:
    root = build_tree(
        tmp_path,
        {
            "hosts/acme.toml": HOSTS,
            "hosts/local.toml": '[hosts.here]\nconnector = "local"\n',
            "known_hosts": "",
            "rules/roles.toml": ADMIN_RULES,
            "states/s.toml": (
                'hosts = ["all"]\n[[service]]\nunit = "tendr-health.timer"\nenabled = false\n'
            ),
        },
    )
    workspace = load(root)
    desired = {h.name: workspace.desired(h) for h in workspace.hosts}
    kept = {(d.spec.kind, d.spec.key): d for d in desired["kept"]}
    assert ("file", baseline.SCRIPT_PATH) in kept
    assert kept[("file", baseline.SCRIPT_PATH)].file == "(baseline)"
    # The state's own declaration of the timer prevails over the baseline's.
    assert kept[("service", "tendr-health.timer")].file == "states/s.toml"
    assert [d.spec.key for d in desired["out"]] == ["tendr-health.timer"]
    assert [d.spec.key for d in desired["here"]] == ["tendr-health.timer"]
