"""``python -m fuzz TARGET|all [--runs N] [--seconds S]``: see :mod:`fuzz`."""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"
NAMES = ("codec", "headers", "cache_control", "vary", "keys", "accept")


def _seeds(target: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((CORPUS / target).glob("*")) if p.is_file()]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        choice = rng.random()
        if choice < 0.4 and out:
            out[rng.randrange(len(out))] = rng.randrange(256)
        elif choice < 0.7:
            out.insert(rng.randint(0, len(out)), rng.randrange(256))
        elif out:
            del out[rng.randrange(len(out))]
    return bytes(out)


def _random_run(target: str, runs: int) -> int:
    """The fallback engine: seeds, then random mutations of them."""
    from fuzz.targets import TARGETS

    test = TARGETS[target]
    rng = random.Random(0)
    seeds = _seeds(target) or [b""]
    for seed in seeds:
        test(seed)
    for _ in range(runs):
        data = _mutate(rng, rng.choice(seeds))
        try:
            test(data)
        except Exception:
            Path(f"fuzz-crash-{target}").write_bytes(data)
            raise
    print(f"fuzz {target}: {runs} random runs, no failure")
    return 0


def _atheris_run(target: str, runs: int | None, seconds: int | None) -> int:
    import atheris

    with atheris.instrument_imports(include=["routecache", "fuzz.targets"]):
        from fuzz.targets import TARGETS
    test = TARGETS[target]
    # libFuzzer writes the inputs it finds to the first corpus directory: one per
    # target outside the repository, reused by later runs (never the seeds).
    work = Path(tempfile.gettempdir()) / f"routecache-fuzz-{target}"
    work.mkdir(exist_ok=True)
    args = [sys.argv[0], str(work), str(CORPUS / target), f"-artifact_prefix=fuzz-crash-{target}-"]
    if runs is not None:
        args.append(f"-runs={runs}")
    if seconds is not None:
        args.append(f"-max_total_time={seconds}")
    atheris.Setup(args, test)
    atheris.Fuzz()  # exits the process: 0 when every run passed
    return 0


def main(argv: list[str]) -> int:
    """Parse the command line and fuzz."""
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__)
    parser.add_argument("target", choices=[*NAMES, "all"])
    parser.add_argument("--runs", type=int, default=None, help="stop after N inputs")
    parser.add_argument("--seconds", type=int, default=None, help="stop after S seconds")
    parser.add_argument(
        "--engine",
        choices=["atheris", "random"],
        default=None,
        help="default: atheris if installed",
    )
    options = parser.parse_args(argv)
    if options.runs is None and options.seconds is None:
        options.runs = 10_000
    engine = options.engine
    if engine is None:
        try:
            import atheris  # noqa: F401
        except ImportError:
            engine = "random"
        else:
            engine = "atheris"
    if options.target == "all":
        import subprocess

        for name in NAMES:
            cmd = [sys.executable, "-m", "fuzz", name, "--engine", engine]
            if options.runs is not None:
                cmd += ["--runs", str(options.runs)]
            if options.seconds is not None:
                cmd += ["--seconds", str(options.seconds)]
            if subprocess.call(cmd) != 0:
                return 1
        return 0
    if engine == "random":
        return _random_run(options.target, options.runs or 10_000)
    return _atheris_run(options.target, options.runs, options.seconds)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
