# popnas: POPNASv2 as a Snakemake workflow. Each search phase is a rule with file outputs
# under results/<run>/ (README.md lists them).
#
#   snakemake --cores all --resources gpu=1                         # the embedded default
#   snakemake --cores all --resources gpu=1 --configfile my.yaml    # overrides, key by key

import os

from popnas_steps.config import validate

# The embedded default, unless the user names config files (`--configfile a.yaml b.yaml`,
# later ones overriding earlier ones): a paper config then stands alone instead of being
# merged over the digits settings. Found next to this file, so `-s path/to/Snakefile` works.
if not workflow.overwrite_configfiles:

    configfile: os.path.join(workflow.basedir, "config", "config.yaml")


# Validate before any job runs: a typo or out-of-range value stops here, naming the key.
config.update(validate(config))


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/select.smk"
include: "rules/train.smk"
include: "rules/step.smk"


rule all:
    # The whole search: every step up to B trained and collected.
    default_target: True
    input:
        f"{STEPS}/b{B}/trained.csv",
