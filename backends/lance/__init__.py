"""LanceDB, embedded on a local directory: ``store`` (the backend), ``nemeses`` (its faults),
``factory`` (the two wired together; the registered builders), ``forkserver`` (helper process
start-up), ``upstream`` (the case study of the original Rust port) and ``export`` (findings as
scripts for Lance's maintainers). Crash states need no module here: the harness derives them
from the factory's ``data_dir``."""
