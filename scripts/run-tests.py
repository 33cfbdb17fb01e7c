#!/usr/bin/env python3
"""Runs the workspace's test executables, as `cargo test` runs them, in two lanes.

Usage: run-tests.py ARTIFACTS LOG_DIR

ARTIFACTS is the JSON that `cargo test --workspace --all-targets --no-run --message-format=json`
printed. Each test executable (benches and examples aside) runs in its package's directory, as
cargo runs it. Running the executables directly, rather than `cargo test -p` per lane, keeps the
one build made with the whole workspace's features: a `-p` selection resolves other features
and compiles the dependencies again.

Most tests wait on moto, Docker or sockets, so two executables run at a time: the deployer's
tests and the two end-to-end files that seed moto the longest (budgets, purge) in one lane,
everything else in the other (the lanes then take about as long as each other). Each
lane's output is printed whole once both are done, then a summary with every executable's time.
Exit status: 0 when every executable passed.
"""

import json
import os
import subprocess
import sys
import threading
import time

PAIRED_WITH_THE_DEPLOYER = {"budgets", "purge"}


def executables(artifacts):
    found = []
    with open(artifacts, encoding="utf-8") as lines:
        for line in lines:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("reason") != "compiler-artifact":
                continue
            if not message.get("executable") or not message["profile"]["test"]:
                continue
            kinds = message["target"]["kind"]
            if "bench" in kinds or "example" in kinds:
                continue
            directory = os.path.dirname(message["manifest_path"])
            found.append((message["target"]["name"], directory, message["executable"]))
    return found


def lane_of(name, directory):
    deployer = os.path.basename(directory) == "deployer"
    return 0 if deployer or name in PAIRED_WITH_THE_DEPLOYER else 1


def run_lane(tests, log_path, results):
    with open(log_path, "w", encoding="utf-8") as log:
        for name, directory, executable in tests:
            log.write(f"\n     Running {os.path.relpath(executable)} ({name})\n")
            log.flush()
            began = time.monotonic()
            status = subprocess.call(
                [executable], cwd=directory, stdout=log, stderr=subprocess.STDOUT
            )
            results.append((name, directory, status, time.monotonic() - began))


def main():
    artifacts, log_dir = sys.argv[1], sys.argv[2]
    os.makedirs(log_dir, exist_ok=True)
    tests = executables(artifacts)
    if not tests:
        print("run-tests: no test executables in " + artifacts, file=sys.stderr)
        return 1
    lanes = ([], [])
    for test in tests:
        lanes[lane_of(test[0], test[1])].append(test)
    results = []
    logs = [os.path.join(log_dir, f"lane-{i + 1}.log") for i in range(2)]
    threads = [
        threading.Thread(target=run_lane, args=(lane, log, results))
        for lane, log in zip(lanes, logs)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, log in enumerate(logs):
        print(f"\n--- tests: lane {i + 1} ---", file=sys.stderr)
        with open(log, encoding="utf-8", errors="replace") as text:
            sys.stderr.write(text.read())
    passed = failed = 0
    for log in logs:
        with open(log, encoding="utf-8", errors="replace") as text:
            for line in text:
                if line.startswith("test result:"):
                    words = line.split()
                    passed += int(words[3])
                    failed += int(words[5])
    print("\ntests: every executable's time", file=sys.stderr)
    for name, directory, status, seconds in sorted(results, key=lambda r: -r[3]):
        verdict = "ok" if status == 0 else f"FAILED (exit {status})"
        package = os.path.basename(directory)
        print(f"  {seconds:7.1f} s  {package}/{name}: {verdict}", file=sys.stderr)
    broken = [r for r in results if r[2] != 0]
    print(f"tests: {passed} passed, {failed} failed", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
