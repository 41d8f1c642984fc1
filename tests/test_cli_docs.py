"""The README's command table and the CLI's parser describe the same commands and flags."""
import re

from conftest import ROOT
from pipeline.cli import parser

SHARED = {"--corpus", "--index", "--json", "-h", "--help"}


def readme_rows() -> dict[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `inquire (\w[\w-]*)([^`]*)` \|", text, flags=re.MULTILINE)
    return {name: usage for name, usage in rows}


def parser_flags() -> dict[str, set[str]]:
    sub = next(a for a in parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    return {name: {o for a in p._actions for o in a.option_strings if o.startswith("--")} - SHARED
            for name, p in sub.choices.items()}


def test_every_command_is_in_the_readme_table_and_no_other():
    assert set(readme_rows()) == set(parser_flags())


def test_every_flag_of_a_command_is_in_its_row_and_every_row_flag_exists():
    rows = readme_rows()
    for name, flags in parser_flags().items():
        documented = set(re.findall(r"--[a-z][a-z-]*", rows[name])) - SHARED
        assert documented == flags, (name, sorted(flags - documented), sorted(documented - flags))
