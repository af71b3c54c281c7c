"""Which layers of tendr each layer imports (import-linter's graph, grimp):

    python3 .ci/layers.py

A layer imports only those below it (pyproject.toml: tool.importlinter; `lint-imports`
checks it in CI); this prints the graph for a person to read."""

from __future__ import annotations

import grimp

LAYERS = ["base", "kinds", "rules", "workspace", "core", "remote", "gateway", "ops", "cli"]

graph = grimp.build_graph("tendr")
for layer in LAYERS:
    used = [
        other
        for other in LAYERS
        if other != layer
        and graph.find_matching_direct_imports(
            import_expression=f"tendr.{layer}.** -> tendr.{other}.**"
        )
    ]
    print(f"{layer:10} imports {', '.join(used) or 'nothing of tendr'}")
