#!/usr/bin/env python3
"""Checks deploy/Dockerfile (and the .dockerignore) without building: no Docker daemon is needed.

    check_dockerfile.py DOCKERFILE [DOCKERIGNORE]

Parses with the `dockerfile` package (BuildKit's own parser, so a syntax error fails here as it would in
`docker build`) and checks what the image promises:
- multi-stage: a builder stage that runs `cargo build --release --locked --bin callscope`;
- base images with explicit tags, never `latest`;
- the final stage copies only the binary from the builder (no build context), runs as a non-root USER,
  has a HEALTHCHECK, and its ENTRYPOINT is the callscope binary;
- the .dockerignore keeps target/ and .git out of the build context.
Exits 1 listing the problems.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

try:
    import dockerfile
except ImportError:  # pragma: no cover
    sys.exit("check_dockerfile: the dockerfile package is missing (run scripts/setup-deploy)")


def expand(value: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), m.group(0)), value)


def check(path: Path, ignore_path: Path | None) -> list[str]:
    problems: list[str] = []
    try:
        commands = dockerfile.parse_file(str(path))
    except dockerfile.GoParseError as e:
        return [f"{path}: does not parse: {e}"]

    args: dict[str, str] = {}
    stages: list[dict] = []
    for cmd in commands:
        if cmd.cmd == "ARG" and not stages:
            for item in cmd.value:
                name, _, default = item.partition("=")
                args[name] = default
        elif cmd.cmd == "FROM":
            image = expand(cmd.value[0], args)
            name = cmd.value[2] if len(cmd.value) >= 3 and cmd.value[1].upper() == "AS" else None
            stages.append({"image": image, "name": name, "commands": []})
        elif stages:
            stages[-1]["commands"].append(cmd)

    if len(stages) < 2:
        problems.append(f"{path}: needs a builder stage and a runtime stage, has {len(stages)} stage(s)")
        return problems
    names = {s["name"] for s in stages if s["name"]}
    for stage in stages:
        image = stage["image"]
        if image in names:
            continue
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        if "@" not in image and (not tag or tag == "latest" or "$" in tag):
            problems.append(f"{path}: base image {image!r} needs an explicit tag (not latest)")

    builders = [s for s in stages[:-1]
                if any(c.cmd == "RUN" and "cargo build --release --locked --bin callscope" in " ".join(c.value)
                       for c in s["commands"])]
    if not builders:
        problems.append(f"{path}: no stage runs `cargo build --release --locked --bin callscope`")

    final = stages[-1]
    cmds = final["commands"]
    copies = [c for c in cmds if c.cmd in ("COPY", "ADD")]
    for c in copies:
        if not any(f.startswith("--from=") for f in c.flags):
            problems.append(f"{path}: runtime stage copies from the build context: {c.original}")
    if len([c for c in copies if any(f.startswith("--from=") for f in c.flags)]) != 1 \
            or not any("callscope" in " ".join(c.value) for c in copies):
        problems.append(f"{path}: runtime stage must copy exactly one file, the callscope binary, from the builder")
    users = [c for c in cmds if c.cmd == "USER"]
    if not users:
        problems.append(f"{path}: runtime stage has no USER (it would run as root)")
    else:
        user = expand(users[-1].value[0], args).split(":")[0]
        if user in ("root", "0", ""):
            problems.append(f"{path}: runtime stage runs as {user!r}")
    health = [c for c in cmds if c.cmd == "HEALTHCHECK"]
    if not health or health[-1].value[:1] == ("NONE",):
        problems.append(f"{path}: runtime stage has no HEALTHCHECK")
    entry = [c for c in cmds if c.cmd == "ENTRYPOINT"]
    if not entry or not entry[-1].value or not entry[-1].value[0].endswith("/callscope"):
        problems.append(f"{path}: ENTRYPOINT must be the callscope binary")

    if ignore_path is not None:
        if not ignore_path.exists():
            problems.append(f"{ignore_path}: missing")
        else:
            patterns = {line.strip().rstrip("/") for line in ignore_path.read_text().splitlines()
                        if line.strip() and not line.startswith("#")}
            for needed in ("target", ".git"):
                if needed not in patterns and f"/{needed}" not in patterns:
                    problems.append(f"{ignore_path}: must exclude {needed}")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    problems = check(Path(argv[1]), Path(argv[2]) if len(argv) == 3 else None)
    for problem in problems:
        print(f"check_dockerfile: FAIL: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"check_dockerfile: {argv[1]}: ok (multi-stage, locked release build, non-root, healthcheck, binary only)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
