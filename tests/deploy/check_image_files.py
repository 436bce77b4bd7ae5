#!/usr/bin/env python3
"""Static checks of the image files (CI has no container engine): deploy/docker/Dockerfile, .dockerignore and the
images docker-compose.yml asks for. Usage: check_image_files.py <source dir> <compose config (yaml)> [<build dir>]

With a build dir, also checks that the production image's packages provide every library etp2sentinel needs and
that the build stage's sources and cmake configuration configure (natively, in a scratch directory).
Prints every problem and exits 1 if there was one; `--self-test` proves that each check can fail.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

# Packages a build stage must not install: test, benchmark, CI and fuzzing tools.
NOT_BUILD_DEPS = {"libgtest-dev", "libgmock-dev", "libbenchmark-dev", "redis-server", "clang", "clang-format",
                  "libclang-rt-14-dev", "prometheus", "docker-compose", "nodejs", "npm", "python3", "curl"}
SHIPPED = ["etp2sentinel", "etp-sim", "sentinel-sim"]
STANDINS = ["etp-sim", "sentinel-sim", "standins.sh"]
# Libraries debian:bookworm-slim already has.
BASE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}


def instructions(text):
    """(stage, instruction, arguments) for each instruction, continuation lines joined, comments dropped."""
    out, stage, pending = [], None, ""
    for line in text.splitlines():
        if line.strip().startswith("#") and not pending:
            continue
        pending += line.rstrip("\\").rstrip() + " " if line.rstrip().endswith("\\") else line
        if line.rstrip().endswith("\\"):
            continue
        if pending.strip():
            word, _, args = pending.strip().partition(" ")
            word = word.upper()
            if word == "FROM":
                m = re.search(r"\bAS\s+(\S+)", args, re.I)
                stage = m.group(1) if m else args.split()[0]
            out.append((stage, word, args.strip()))
        pending = ""
    return out


def apt_packages(args):
    m = re.search(r"apt-get install ([^&]*)", args)
    return {w for w in (m.group(1).split() if m else []) if not w.startswith("-")}


def ignored(patterns, path):
    """Whether .dockerignore excludes `path` (the last matching rule wins; a rule matching a parent counts)."""
    def regex(p):
        r = re.escape(p.strip("/")).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*")
        return re.compile("^" + r.replace(r"\*", "[^/]*").replace(r"\?", "[^/]") + "$")
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    verdict = False
    for p in patterns:
        negate = p.startswith("!")
        if any(regex(p.lstrip("!")).match(x) for x in prefixes):
            verdict = not negate
    return verdict


def check(src, compose, build_dir=None, dockerfile=None, dockerignore=None):
    problems = []
    text = dockerfile if dockerfile is not None else open(os.path.join(src, "deploy/docker/Dockerfile")).read()
    ins = instructions(text)
    stages = [s for s, w, _ in ins if w == "FROM"]
    by_stage = {}
    for s, w, a in ins:
        by_stage.setdefault(s, []).append((w, a))

    # Stages: build, symbols, trials, production — production last (what a plain `docker build` gives).
    for needed in ("build", "symbols", "trials", "production"):
        if needed not in stages:
            problems.append(f"Dockerfile: no stage '{needed}'")
    if stages and stages[-1] != "production":
        problems.append("Dockerfile: the last (default) stage is not 'production'")

    # Build stage: dependencies installed before any source is copied, only build dependencies, no `COPY . .`.
    build = by_stage.get("build", [])
    first_copy = next((i for i, (w, _) in enumerate(build) if w == "COPY"), len(build))
    first_install = next((i for i, (w, a) in enumerate(build) if w == "RUN" and "apt-get install" in a), None)
    if first_install is None or first_install > first_copy:
        problems.append("Dockerfile: the build dependencies are not installed in a layer before the sources")
    deps = set().union(*[apt_packages(a) for w, a in build if w == "RUN"] or [set()])
    for p in sorted(deps & NOT_BUILD_DEPS):
        problems.append(f"Dockerfile: the build stage installs {p}, not a build dependency")
    if any(w == "COPY" and re.match(r"^\.\s", a) for w, a in build):
        problems.append("Dockerfile: `COPY . .` in the build stage (every edit rebuilds; take sources by name)")
    if any("install-deps.sh" in a for w, a in build):
        problems.append("Dockerfile: the build stage runs install-deps.sh (every CI tool)")
    runs = " ".join(a for w, a in build if w == "RUN")
    m = re.search(r"cmake --build \S+ [^&]*--target ((?:[\w-]+ ?)+)", runs)
    if not m or sorted(m.group(1).split()) != sorted(SHIPPED):
        problems.append("Dockerfile: the build stage does not build exactly " + " ".join(SHIPPED))
    for flag in ("-DETP2S_TESTS=OFF", "-DETP2S_BENCH=OFF"):
        if flag not in runs:
            problems.append(f"Dockerfile: the build stage configures without {flag}")
    if "--only-keep-debug" not in runs or not re.search(r"objcopy --strip-(all|debug|unneeded)", runs):
        problems.append("Dockerfile: the programs are not stripped with their symbols kept apart")
    if not any(w == "COPY" and "/out/debug" in a for w, a in by_stage.get("symbols", [])):
        problems.append("Dockerfile: the symbols stage does not hold the debug symbols")

    # Every directory the top-level CMakeLists.txt adds (bar tests, fuzz, bench) is copied into the build stage.
    cmake = open(os.path.join(src, "CMakeLists.txt")).read()
    subdirs = set(re.findall(r"add_subdirectory\((\w+)\)", cmake))
    subdirs |= set(re.findall(r"foreach\(component ([\w ]+)\)", cmake)[0].split()) if "foreach(component" in cmake else set()
    subdirs -= {"tests", "fuzz", "bench", "${component}"}
    copied = {a.split()[0].rstrip("/") for w, a in build if w == "COPY" and not a.startswith("--")}
    for d in sorted(subdirs - copied):
        problems.append(f"Dockerfile: the build stage does not copy {d}/, which CMakeLists.txt builds")

    # Production: what runtime gives, nothing of the stand-ins, no -dev package, a non-root user, a healthcheck on
    # `etp2sentinel status`.
    chain = ["runtime", "production"]
    prod = [x for s in chain for x in by_stage.get(s, [])]
    for w, a in prod:
        if w == "COPY" and any(x in a for x in STANDINS):
            problems.append(f"Dockerfile: the production image gets a stand-in ({a})")
        if w == "RUN":
            for p in sorted(apt_packages(a)):
                if p.endswith("-dev") or p in NOT_BUILD_DEPS or p == "libcpp-httplib0.11":
                    problems.append(f"Dockerfile: the production image installs {p}")
    users = [a for w, a in prod if w == "USER"]
    if not users or users[-1] in ("root", "0"):
        problems.append("Dockerfile: the production image runs as root")
    health = [a for w, a in prod if w == "HEALTHCHECK"]
    if not health or "etp2sentinel" not in health[-1] or '"status"' not in health[-1]:
        problems.append("Dockerfile: no HEALTHCHECK running `etp2sentinel status`")
    trials = by_stage.get("trials", [])
    for x in STANDINS:
        if not any(w == "COPY" and x in a for w, a in trials):
            problems.append(f"Dockerfile: the trials image lacks {x}")

    # .dockerignore: the repository, secrets, local settings and build trees stay out; sources stay in.
    ign_text = dockerignore if dockerignore is not None else (
        open(os.path.join(src, ".dockerignore")).read() if os.path.exists(os.path.join(src, ".dockerignore")) else "")
    patterns = [l.strip() for l in ign_text.splitlines() if l.strip() and not l.startswith("#")]
    for path in (".git/HEAD", "secrets/etp_api_key", ".env", "build/CMakeCache.txt", "build-asan/x",
                 "tests/deploy/azure/node_modules/x/index.js", "deploy/azure/terraform/.terraform/x",
                 "deploy/azure/terraform/terraform.tfstate"):
        if not ignored(patterns, path):
            problems.append(f".dockerignore: {path} would enter the build context")
    for path in ("CMakeLists.txt", "common/state.cpp", "sim/etp/etp_sim.cpp", "deploy/docker/standins.sh",
                 "sources/schema/FireEyeETPAlerts_CL.json"):
        if ignored(patterns, path):
            problems.append(f".dockerignore: {path} would be left out of the build context")

    # Compose: the roles run the production image, the stand-ins the trials image; role healthchecks use status.
    svc = compose["services"]
    for role in ("coordinator", "shipper", "fetcher"):
        if svc[role].get("build", {}).get("target") != "production":
            problems.append(f"compose: {role} is not built from the production target")
        if "status" not in " ".join(svc[role].get("healthcheck", {}).get("test", [])):
            problems.append(f"compose: {role}'s healthcheck does not run `etp2sentinel status`")
    if svc["standins"].get("build", {}).get("target") != "trials":
        problems.append("compose: standins is not built from the trials target")
    if svc["standins"].get("image") == svc["coordinator"].get("image"):
        problems.append("compose: standins and the roles share one image name")

    if build_dir and dockerfile is None:
        problems += check_libraries(text, build_dir)
        problems += check_configures(src, ins)
    return problems


def check_libraries(text, build_dir):
    """The production image's packages provide every library the built etp2sentinel needs, the trials image's
    those of the stand-ins."""
    ins = instructions(text)
    installed = lambda stages: BASE_PACKAGES | set().union(
        *[apt_packages(a) for s, w, a in ins if s in stages and w == "RUN"] or [set()])
    problems = []
    for program, image, stages in (("app/etp2sentinel", "production", {"runtime", "production"}),
                                   ("sim/etp-sim", "trials", {"runtime", "trials"}),
                                   ("sim/sentinel-sim", "trials", {"runtime", "trials"})):
        problems += missing_libraries(os.path.join(build_dir, program), image, installed(stages))
    return problems


def missing_libraries(binary, image, have):
    needed = re.findall(r"\(NEEDED\).*\[(.*)\]", subprocess.run(["readelf", "-dW", binary], capture_output=True,
                                                                   text=True).stdout)
    paths = dict(re.findall(r"^\s*(\S+) => (\S+)", subprocess.run(["ldd", binary], capture_output=True,
                                                                   text=True).stdout, re.M))
    problems = []
    for lib in needed:
        if lib.startswith("ld-linux"):  # the dynamic loader: libc6
            continue
        path = paths.get(lib, "")
        owner = ""
        for candidate in (path, path.replace("/usr/lib/", "/lib/", 1), path.replace("/lib/", "/usr/lib/", 1)):
            r = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
            if r.returncode == 0:
                owner = r.stdout.split(":")[0]
                break
        if owner not in have:
            problems.append(f"Dockerfile: {os.path.basename(binary)} needs {lib} ({owner or 'no package found'}), "
                            f"which the {image} image does not install")
    return problems


def check_configures(src, ins):
    """The build stage's COPY sources and cmake configure line configure here (no tests, no missing dir)."""
    build = [(w, a) for s, w, a in ins if s == "build"]
    runs = " ".join(a for w, a in build if w == "RUN")
    m = re.search(r"(cmake -S \. -B \S+[^&]*)", runs)
    if not m:
        return ["Dockerfile: no `cmake -S . -B ...` configure line in the build stage"]
    with tempfile.TemporaryDirectory() as tmp:
        for w, a in build:
            if w == "COPY" and not a.startswith("--"):
                what = a.split()[0].rstrip("/")
                s = os.path.join(src, what)
                (shutil.copytree if os.path.isdir(s) else shutil.copy)(s, os.path.join(tmp, what))
        r = subprocess.run(m.group(1), shell=True, cwd=tmp, capture_output=True, text=True)
        if r.returncode != 0:
            return ["Dockerfile: the build stage's sources do not configure: " + (r.stderr or r.stdout)[-800:]]
    return []


def self_test(src, compose):
    """Each family of checks rejects a file that breaks it."""
    good = open(os.path.join(src, "deploy/docker/Dockerfile")).read()
    ign = open(os.path.join(src, ".dockerignore")).read()
    cases = {
        "deps after sources": good.replace("FROM debian:bookworm AS build\n", "FROM debian:bookworm AS build\nCOPY app/ app/\n", 1),
        "a test tool": good.replace("binutils", "binutils libgtest-dev", 1),
        "everything built": good.replace("--target etp2sentinel etp-sim sentinel-sim", "", 1),
        "unstripped": good.replace("--only-keep-debug", "--keep-everything", 1),
        "stand-ins in production": good.replace(
            "FROM runtime AS production", "FROM runtime AS production\nCOPY --from=build /out/bin/etp-sim /usr/local/bin/", 1),
        "root": good.replace("USER etp2s\n# `status`", "# `status`", 1),
        "no healthcheck": re.sub(r"HEALTHCHECK[^\n]*\n", "", good),
        "production not last": good + "\nFROM runtime AS other\n",
        "a directory not copied": good.replace("COPY fetcher/ fetcher/\n", "", 1),
    }
    failed = []
    for name, text in cases.items():
        if text == good:
            failed.append(f"self-test '{name}': the mutation did not apply")
        elif not check(src, compose, dockerfile=text, dockerignore=ign):
            failed.append(f"self-test '{name}': not noticed")
    if not check(src, compose, dockerfile=good, dockerignore=ign.replace("secrets\n", "")):
        failed.append("self-test 'secrets in the context': not noticed")
    return failed


if __name__ == "__main__":
    src, compose_file = sys.argv[1], sys.argv[2]
    build_dir = sys.argv[3] if len(sys.argv) > 3 else None
    compose = yaml.safe_load(open(compose_file))
    problems = self_test(src, compose) + check(src, compose, build_dir)
    for p in problems:
        print(p)
    print("image files: " + ("ok" if not problems else f"{len(problems)} problem(s)"))
    sys.exit(1 if problems else 0)
