"""The entry points of the workflow's rules, one module per rule family, and the commands a
user types:

    python -m popnas_steps.cli.datasets prepare ...     (data.smk)
    python -m popnas_steps.cli.select_cells ...         (select.smk: thrust, b=1)
    python -m popnas_steps.cli.train_cell ...           (train.smk: one network)
    python -m popnas_steps.cli.collect ...              (train.smk: a step's trained table)
    python -m popnas_steps.cli.step ...                 (step.smk: reindex, fit, expand, fronts, select)
    python -m popnas_steps.cli.report ...               (report.smk)
    python -m popnas_steps.cli.final ...                (final.smk)
    python -m popnas_steps.cli.status ...               (by hand: where a search stands, its forecast)
    python -m popnas_steps.cli.worker ...               (warm workers: started by train_cell; --stop by hand)
    python -m popnas_steps.cli.space ...                (by hand: the size of a space, a cell's id)

Each parses its arguments (`arguments`: the config options they share), reads its inputs,
calls the library (popnas_steps.*) and writes its outputs; a bad input is a message and exit
status 2. Nothing in the library imports from here (tests/test_layering.py).
"""
