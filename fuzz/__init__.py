"""Coverage-guided fuzzing of routecache's parsers (atheris, i.e. libFuzzer for Python).

``python -m fuzz TARGET [--runs N | --seconds S]`` fuzzes one target (or ``all``) from
its seed corpus in ``fuzz/corpus/TARGET``; the inputs it finds go to
``$TMPDIR/routecache-fuzz-TARGET`` (reused by later runs), a crashing input to
``fuzz-crash-*`` in the working directory. Without atheris (a
platform it has no wheel for) the same targets run on random mutations of the seeds.
The targets are in :mod:`fuzz.targets`; a short run of each is part of the test suite
(``tests/bounded/test_fuzz.py``).
"""
