"""What every benchmark does with its report: print it and write it to its results file."""

import os


def publish(text, out):
    """Print the Markdown report and write it to `out` (its directory made if missing)."""
    print(text)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, 'w') as f:
        f.write(text)
