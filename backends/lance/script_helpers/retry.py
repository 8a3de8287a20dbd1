"""The backend's retry loop for commits that lose a race, without its seeded jitter."""

import time

ATTEMPTS = 8
BASE_DELAY = 0.005
MAX_DELAY = 0.2
CONFLICT_MARKERS = ("commit conflict",)
"""Lower-case parts of the messages of a lost commit race: any other error is raised at once."""


def is_conflict(error: Exception) -> bool:
    message = str(error).lower()
    return any(marker in message for marker in CONFLICT_MARKERS)


def retry(write, attempts=ATTEMPTS):
    """Retry a commit that lost a race to another writer, as the backend does."""
    for attempt in range(attempts):
        try:
            return write()
        except Exception as error:
            if attempt + 1 == attempts or not is_conflict(error):
                raise
            time.sleep(min(MAX_DELAY, BASE_DELAY * 2**attempt))
