"""Check docker-compose.yml without a Docker engine: the compose client validates it against the
Compose file schema (``docker-compose config``), then we check what envgrid needs of it."""
from __future__ import annotations

import shutil
import subprocess
import sys

import yaml

REQUIRED = ("rabbitmq", "postgres", "complaints", "dispatch", "notify", "ranking", "gateway")


def check(path: str) -> list[str]:
    problems = []
    client = shutil.which("docker-compose")
    if client is None:
        return ["docker-compose is not installed (apt-get install docker-compose)"]
    proc = subprocess.run([client, "-f", path, "config"], capture_output=True, text=True)
    if proc.returncode != 0:
        return [f"compose validation failed: {proc.stderr.strip()}"]
    resolved = yaml.safe_load(proc.stdout)
    services = resolved.get("services", {})
    for name in REQUIRED:
        if name not in services:
            problems.append(f"service {name} is missing")
        elif "healthcheck" not in services[name]:
            problems.append(f"service {name} has no healthcheck")
    return problems


def main(argv: list[str]) -> int:
    problems = check(argv[0] if argv else "docker-compose.yml")
    for p in problems:
        print(p)
    print("docker-compose.yml: ok" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
