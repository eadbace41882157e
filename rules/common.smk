# Shared helpers of the rules: config slices passed as params, so that a change to one
# slice reruns only the rules that read it.
import json
import sys

# The interpreter running Snakemake runs every step too, so a venv needs no activation.
PYTHON = sys.executable


def config_slice(*keys):
    """The named top-level config sections as canonical JSON (a stable rerun trigger)."""
    return json.dumps({key: config[key] for key in keys}, sort_keys=True)
