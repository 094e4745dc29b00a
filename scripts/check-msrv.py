#!/usr/bin/env python3
"""Fails when a dependency needs a newer Rust than `rust-version` in Cargo.toml says.

The true minimum is the highest of: the `rust-version` each dependency declares, and
what its edition needs (2024: 1.85, 2021: 1.56, 2018: 1.31), over every crate needed to
build `engineio` with all its features (normal and build dependencies, transitively;
not dev-dependencies). Our own code is held to the declared version by clippy's
`incompatible_msrv` lint (the test command runs clippy with warnings denied). Only one
toolchain can be installed here, so this is computed from `cargo metadata` rather than
by building with the old compiler.
"""
import json
import subprocess
import sys

EDITION_MIN = {"2015": "1.0", "2018": "1.31", "2021": "1.56", "2024": "1.85"}


def version(v):
    parts = [int(x) for x in v.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def main():
    meta = json.loads(
        subprocess.check_output(
            ["cargo", "metadata", "--format-version", "1", "--all-features", "--locked"]
        )
    )
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    root = next(p for p in meta["packages"] if p["name"] == "engineio")
    declared = root.get("rust_version")
    if not declared:
        sys.exit("check-msrv: Cargo.toml declares no rust-version")
    needed, why = version(EDITION_MIN[root["edition"]]), "our edition"
    seen, stack = set(), [root["id"]]
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        for dep in nodes[pid]["deps"]:
            kinds = {k["kind"] for k in dep["dep_kinds"]}
            if kinds & {None, "build"}:
                stack.append(dep["pkg"])
    for pid in seen - {root["id"]}:
        p = packages[pid]
        for v, reason in (
            (p.get("rust_version"), "rust-version"),
            (EDITION_MIN.get(p["edition"]), "edition " + p["edition"]),
        ):
            if v and version(v) > needed:
                needed, why = version(v), f"{p['name']} {p['version']} ({reason} {v})"
    shown = ".".join(str(x) for x in needed[:2] if True)
    if version(declared) < needed:
        sys.exit(
            f"check-msrv: Cargo.toml says rust-version = {declared}, but {why} needs {shown}: "
            "raise rust-version (and say so in the README and CHANGELOG)"
        )
    print(f"check-msrv: rust-version {declared} covers every dependency (the highest: {why})")


if __name__ == "__main__":
    main()
