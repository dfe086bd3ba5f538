from evals.cli import entry

raise SystemExit(entry())
