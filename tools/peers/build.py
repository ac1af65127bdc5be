#!/usr/bin/env python3
"""Build the real peers (etcd, kube-apiserver, Flux controllers, ...) from the Go module proxy.

Why a wrapper module: `go install mod/cmd/x@v` refuses modules whose go.mod has `replace`
directives (Kubernetes replaces its staging modules, Flux controllers their `api` submodule).
A small module of ours requires the module, repeats its replaces (local ones turned into the
published versions) and builds the same main packages with `go build -o`.

Everything is data: tools/peers/versions.toml lists the components. Each lands in
~/.cache/fleet-peers/<name>-<version>/ with a build.json written last, so a second run finds it
and takes a second. Only the standard library is used, so this runs before any venv exists.

Usage: python3 tools/peers/build.py [--only NAME ...] [--list] [--cache DIR]
Prints, per component, the cold build time, the output's size, the size of the modules it used
and what it added to the Go build cache.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
VERSIONS = HERE / "versions.toml"
DEFAULT_CACHE = Path(os.environ.get("FLEET_PEERS_CACHE", str(Path.home() / ".cache" / "fleet-peers")))


def go_env(name: str) -> str:
    return subprocess.run(["go", "env", name], capture_output=True, text=True, check=True).stdout.strip()


def du(paths: list[Path]) -> int:
    existing = [str(p) for p in paths if p.exists()]
    if not existing:
        return 0
    out = subprocess.run(["du", "-scb", *existing], capture_output=True, text=True, check=True).stdout
    return int(out.strip().splitlines()[-1].split()[0])


def mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def run(cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
    with log.open("a") as f:
        f.write(f"$ {' '.join(cmd)}\n")
        f.flush()
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = log.read_text().splitlines()[-30:]
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n  in {cwd}\n  " + "\n  ".join(tail))


def parse_gomod(text: str) -> tuple[str, dict[str, str], list[tuple[str, str]]]:
    """The go line, the required versions and the replace directives of a go.mod."""
    go_line = ""
    requires: dict[str, str] = {}
    replaces: list[tuple[str, str]] = []
    block = ""
    for raw in text.splitlines():
        line = raw.split("//")[0].strip()
        if not line:
            continue
        if block:
            if line == ")":
                block = ""
                continue
            stmt = f"{block} {line}"
        elif line.endswith("("):
            block = line[:-1].strip()
            continue
        else:
            stmt = line
        kw, _, rest = stmt.partition(" ")
        rest = rest.strip()
        if kw == "go":
            go_line = rest
        elif kw == "require":
            parts = rest.split()
            requires[parts[0]] = parts[1]
        elif kw == "replace":
            left, _, right = rest.partition("=>")
            replaces.append((left.strip(), right.strip()))
    return go_line, requires, replaces


def wrapper_gomod(name: str, comp: dict[str, Any], dep_gomod: str) -> str:
    go_line, requires, replaces = parse_gomod(dep_gomod)
    lines = [f"module fleetpeers/{name}", "", f"go {go_line}", "", f"require {comp['module']} {comp['version']}", ""]
    for left, right in replaces:
        target = right.split()[0]
        if target.startswith("."):
            mod = left.split()[0]
            if mod not in requires:
                continue  # a guard such as etcd's `go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY`
            version = requires[mod]
            if version.startswith("v0.0.0"):
                version = comp.get("staging_version", "")
                if not version:
                    raise SystemExit(f"{name}: {mod} is replaced by {target} and required as v0.0.0; set staging_version")
            lines.append(f"replace {mod} => {mod} {version}")
        else:
            lines.append(f"replace {left} => {right}")
    for mod, version in comp.get("replace", {}).items():
        lines.append(f"replace {mod} => {mod} {version}")
    return "\n".join(lines) + "\n"


def module_main(src: Path, binary: str, spec: dict[str, Any], module_dir: Path) -> str:
    """A main package of the module whose `go generate` output is not in the module zip.

    Its Go files are copied into the wrapper; each `json` file is what the package's generator
    writes (the module's JSON file re-serialised, with "version" set where `set_version` says),
    e.g. pulumi-kubernetes' schema-embed.json, which its main package embeds.
    """
    dest = src / "cmd" / binary
    dest.mkdir(parents=True)
    for go_file in (module_dir / spec["dir"]).glob("*.go"):
        if not go_file.name.endswith("_test.go"):
            shutil.copyfile(go_file, dest / go_file.name)
    for target, source in spec.get("json", {}).items():
        doc = json.loads((module_dir / spec["dir"] / source).read_text())
        if target in spec.get("set_version", []):
            doc["version"] = spec["version"]
        (dest / target).write_text(json.dumps(doc, separators=(",", ":")))
    return f"./cmd/{binary}"


def copy_module_file(where: str, dest: Path, src: Path, env: dict[str, str]) -> None:
    """Copy `module@version:path` (a file of another module's zip) to `dest`, executable."""
    module, _, path = where.partition(":")
    dl = subprocess.run(["go", "mod", "download", "-json", module], cwd=src, env=env, capture_output=True, text=True)
    meta = json.loads(dl.stdout or "{}")
    if dl.returncode != 0 or "Error" in meta:
        raise SystemExit(f"go mod download -json {module}: {meta.get('Error', dl.stderr)}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(meta["Dir"]) / path, dest)
    dest.chmod(0o755)


def build(name: str, comp: dict[str, Any], cache: Path) -> dict[str, Any]:
    out = cache / f"{name}-{comp['version']}"
    stamp = out / "build.json"
    if stamp.exists():
        info: dict[str, Any] = json.loads(stamp.read_text())
        info["cached"] = True
        return info
    started = time.monotonic()
    src = cache / "src" / f"{name}-{comp['version']}"
    shutil.rmtree(src, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    src.mkdir(parents=True)
    (out / "bin").mkdir(parents=True)
    log = cache / f"{name}-{comp['version']}.log"
    log.write_text("")
    env = dict(os.environ, GOTOOLCHAIN=comp.get("toolchain", "local"), GOFLAGS="-buildvcs=false", CGO_ENABLED="0")
    gocache = Path(go_env("GOCACHE"))
    gocache_before = du([gocache])

    dl = subprocess.run(["go", "mod", "download", "-json", f"{comp['module']}@{comp['version']}"],
                        cwd=src, env=env, capture_output=True, text=True)
    meta = json.loads(dl.stdout or "{}")
    if dl.returncode != 0 or "Error" in meta:
        raise SystemExit(f"{name}: go mod download -json {comp['module']}@{comp['version']}: {meta.get('Error', dl.stderr)}")
    (src / "go.mod").write_text(wrapper_gomod(name, comp, Path(meta["GoMod"]).read_text()))
    mains: dict[str, str] = {}
    for binary, source in comp.get("main_source", {}).items():
        (src / "cmd" / binary).mkdir(parents=True)
        (src / "cmd" / binary / "main.go").write_text(source.lstrip())
        mains[binary] = f"./cmd/{binary}"
    for binary, rel in comp.get("main_dir", {}).items():
        shutil.copytree(HERE / rel, src / "cmd" / binary)
        mains[binary] = f"./cmd/{binary}"
    for binary, spec in comp.get("module_main", {}).items():
        mains[binary] = module_main(src, binary, spec, Path(meta["Dir"]))
    binaries: dict[str, str] = dict(comp.get("binaries", {}))
    imports = "\n".join(f'\t_ "{pkg}"' for pkg in binaries.values())
    (src / "tools.go").write_text(f"//go:build tools\n\npackage tools\n\nimport (\n{imports}\n)\n")
    # -e: a module that only the dependencies' own tests import may be refused by the proxy; a module the
    # build needs and cannot get still fails the build below.
    run(["go", "mod", "tidy", "-e"], src, env, log)
    ldflags = comp.get("ldflags", "-s -w")
    tags = [f"-tags={comp['tags']}"] if comp.get("tags") else []
    for binary, pkg in {**binaries, **mains}.items():
        run(["nice", "-n", "10", "go", "build", "-trimpath", *tags, f"-ldflags={ldflags}", "-o", str(out / "bin" / binary),
             pkg], src, env, log)
    for dest, where in comp.get("files", {}).items():
        copy_module_file(where, out / dest, src, env)
    for dest, rel in comp.get("local_files", {}).items():
        shutil.copyfile(HERE / rel, out / dest)
        (out / dest).chmod(0o755)
    for dest, inside in comp.get("copy", {}).items():
        shutil.copytree(Path(meta["Dir"]) / inside, out / dest)
        for p in (out / dest).rglob("*"):
            p.chmod(0o644 if p.is_file() else 0o755)
    mod_dirs = subprocess.run(["go", "list", "-m", "-f", "{{.Dir}}", "all"], cwd=src, env=env,
                              capture_output=True, text=True, check=True).stdout.split()
    info = {
        "name": name,
        "module": comp["module"],
        "version": comp["version"],
        "go": subprocess.run(["go", "version"], capture_output=True, text=True, env=env).stdout.strip(),
        "seconds": round(time.monotonic() - started, 1),
        "output_bytes": du([out]),
        "modules_bytes": du([Path(d) for d in mod_dirs if d]),
        "gocache_added_bytes": max(0, du([gocache]) - gocache_before),
        "cached": False,
    }
    stamp.write_text(json.dumps(info, indent=2) + "\n")
    return info


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", help="build only these components")
    ap.add_argument("--list", action="store_true", help="print the components and where they go, build nothing")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = ap.parse_args()
    components: dict[str, dict[str, Any]] = tomllib.loads(VERSIONS.read_text())["components"]
    names = args.only or list(components)
    unknown = [n for n in names if n not in components]
    if unknown:
        print(f"unknown components: {unknown}; known: {list(components)}", file=sys.stderr)
        return 2
    if args.list:
        for n in names:
            c = components[n]
            print(f"{n}\t{c['module']}@{c['version']}\t{args.cache / (n + '-' + c['version'])}"
                  + (f"\tskipped: {c['skip']}" if c.get("skip") else ""))
        return 0
    args.cache.mkdir(parents=True, exist_ok=True)
    total_started = time.monotonic()
    rows = []
    failed = False
    for n in names:
        c = components[n]
        if c.get("skip"):
            print(f"== {n}: not built: {c['skip']}", flush=True)
            continue
        print(f"== {n} {c['module']}@{c['version']}", flush=True)
        try:
            info = build(n, c, args.cache)
        except SystemExit as e:
            print(f"{n}: {e}", file=sys.stderr, flush=True)
            failed = True
            continue
        rows.append(info)
        print(f"   {'cached' if info['cached'] else 'built'}: cold build {info['seconds']}s, output {mib(info['output_bytes'])}, "
              f"modules used {mib(info['modules_bytes'])}, Go build cache +{mib(info['gocache_added_bytes'])}", flush=True)
    if rows:
        print(f"total: cold build {sum(r['seconds'] for r in rows):.0f}s, output {mib(sum(r['output_bytes'] for r in rows))}, "
              f"Go build cache added {mib(sum(r['gocache_added_bytes'] for r in rows))}; "
              f"this run took {time.monotonic() - total_started:.1f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
