# popnas: POPNASv2 as a Snakemake workflow. Each search phase is a rule with file outputs
# under results/<run>/ (README.md lists them).
#
#   snakemake --cores all --resources gpu=1                         # the embedded default
#   snakemake --cores all --resources gpu=1 --configfile my.yaml    # overrides, key by key

import os

from popnas_steps.config import validate
from popnas_steps.space import Cell, cell_id

# Found next to this file, so `snakemake -s path/to/Snakefile -d elsewhere` works too.
configfile: os.path.join(workflow.basedir, "config", "config.yaml")


# Validate before any job runs: a typo or out-of-range value stops here, naming the key.
config.update(validate(config))
RUN = f"results/{config['run']}"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"


rule all:
    input:
        f"{RUN}/b0/trained.csv",
