"""Evaluation, benchmarks and training, apart from the runtime stages in `pipeline/`.

bench (`make bench`), eval_answers (`make eval-answers`), eval_grounding and train_grounding (`make eval-grounding`,
`make train-grounding`) with the data they read (grounding_data, judge_data, perturb, evaluate). Nothing in
`pipeline/` imports from here: the CLI's `inquire bench` and `inquire eval` find `bench.run` and
`eval_answers.command` through the `inquire.commands` entry points declared in pyproject.toml."""
