#!/usr/bin/env python3
"""Checks that no dependency in the build needs a newer Rust than the
package's own rust-version (Cargo.toml), so the stated minimum is the true
one. clippy's incompatible_msrv lint covers the project's own use of std."""
import json
import subprocess
import sys


def version(text):
    parts = [int(part) for part in text.split(".")[:3]]
    return tuple(parts + [0] * (3 - len(parts)))


meta = json.loads(
    subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
)
# The library (the workspace's other member is the test support crate).
root_manifest = meta["workspace_root"] + "/Cargo.toml"
ours = next(p for p in meta["packages"] if p["manifest_path"] == root_manifest)
msrv = ours["rust_version"]
# Only what the library itself builds with (normal and build dependencies).
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
wanted, todo = set(), [ours["id"]]
while todo:
    node = nodes[todo.pop()]
    for dep in node["deps"]:
        if any(k["kind"] in (None, "build") for k in dep["dep_kinds"]) and dep["pkg"] not in wanted:
            wanted.add(dep["pkg"])
            todo.append(dep["pkg"])
newer = [
    f'{p["name"]} {p["version"]} needs Rust {p["rust_version"]}'
    for p in meta["packages"]
    if p["id"] in wanted and p.get("rust_version") and version(p["rust_version"]) > version(msrv)
]
if newer:
    print(f"rust-version is {msrv}, but:\n  " + "\n  ".join(newer))
    sys.exit(1)
print(f"msrv: rust-version {msrv}; none of the {len(wanted)} dependencies needs a newer Rust")
