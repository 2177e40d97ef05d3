"""The Terraform module's documentation agrees with the module (python-hcl2, no Terraform run):
the generated tables in terraform/README.md and docs/terraform.md match variables, outputs,
resources and versions; the docs page links nowhere outside docs/; and the runnable example
(terraform/examples/default/) sets what terraform/terraform.tfvars.example sets, so the two ways
to start cannot drift apart. tests/integration/test_terraform_example.py runs the example."""

from __future__ import annotations

import re

import hcl2
import pytest

from tests.support.processes import REPO
from tests.support.terraform import MODULE, blocks, parse
from tests.support.terraform_docs import COMMAND, DOCS_PAGE, EXAMPLE, README, current_block, tables

TFVARS_EXAMPLE = MODULE / "terraform.tfvars.example"
VAR_REFERENCE = re.compile(r"^\$\{var\.([A-Za-z_][A-Za-z0-9_-]*)\}$")
MODULE_OUTPUT = re.compile(r"^\$\{module\.pls\.([A-Za-z_][A-Za-z0-9_-]*)\}$")

# --------------------------------------------------------------------------------------------
# The generated tables
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [README, DOCS_PAGE], ids=lambda path: str(path.relative_to(REPO)))
def test_the_tables_match_the_module(path) -> None:
    assert path.is_file(), f"{path.relative_to(REPO)} is missing: run .venv/bin/{COMMAND}"
    found = current_block(path.read_text())
    assert found is not None, f"{path.relative_to(REPO)} has lost its table markers: restore them, then " \
                              f"run .venv/bin/{COMMAND}"
    assert found == tables(), f"the Terraform tables in {path.relative_to(REPO)} are out of date with the " \
                              f"module's files: run .venv/bin/{COMMAND} from the repository root"


def test_the_tables_list_every_variable_and_output() -> None:
    """A guard on the generator itself: a block it failed to read would vanish from both files alike."""
    generated = tables()
    variables, outputs = blocks("variable"), blocks("output")
    assert len(variables) >= 40 and len(outputs) >= 15
    for name in [*variables, *outputs]:
        assert f"| `{name}` |" in generated, f"{name} is missing from the generated tables"
    required = [name for name, body in variables.items() if "default" not in body]
    assert required == ["image_tag"], "a new required input: the example and the tfvars example must set it"
    assert "| `image_tag` |" in generated and "| n/a | yes |" in generated


def test_the_docs_page_links_only_inside_the_site() -> None:
    """mkdocs --strict refuses a relative link that leaves docs/: repository paths are code spans."""
    text = DOCS_PAGE.read_text()
    for target in re.findall(r"\]\(([^)\s]+)", text):
        assert target.startswith(("https://", "http://", "#")) or not target.startswith(("..", "/")), \
            f"docs/terraform.md links to {target}: write repository paths as code spans"
        if not target.startswith(("https://", "http://", "#")):
            assert (DOCS_PAGE.parent / target.split("#")[0]).is_file(), f"docs/terraform.md links to {target}"


# --------------------------------------------------------------------------------------------
# The example and the tfvars example
# --------------------------------------------------------------------------------------------


def _example_call() -> dict:
    calls = parse(EXAMPLE / "main.tf")["module"]
    assert [name for call in calls for name in call] == ["pls"], "the example calls the module once, as pls"
    call = dict(calls[0]["pls"])
    assert call.pop("source") == "../..", "the example calls the module in this repository"
    return call


def _example_variables() -> dict:
    return {name: body for block in parse(EXAMPLE / "variables.tf")["variable"] for name, body in block.items()}


def test_the_example_sets_what_the_tfvars_example_sets() -> None:
    with TFVARS_EXAMPLE.open() as handle:
        settings = hcl2.load(handle)
    call, variables = _example_call(), _example_variables()

    def value(name: str):
        reference = VAR_REFERENCE.match(str(call[name]))
        if reference is None:
            return call[name]
        assert reference.group(1) in variables, f"module argument {name} reads an undeclared var.{reference.group(1)}"
        return variables[reference.group(1)].get("default", "<set per deployment>")

    missing = sorted(set(settings) - set(call))
    assert not missing, f"terraform.tfvars.example sets {missing}; the example's main.tf must set them too"
    differ = {name: (settings[name], value(name)) for name in settings if value(name) != settings[name]}
    assert not differ, f"the example and terraform.tfvars.example disagree (tfvars, example): {differ}"

    # What only the example sets are the per-deployment inputs: passed through from its own
    # variables, and named (in a comment) in terraform.tfvars.example as well.
    tfvars_text = TFVARS_EXAMPLE.read_text()
    for name in sorted(set(call) - set(settings)):
        assert VAR_REFERENCE.match(str(call[name])), \
            f"the example sets {name} = {call[name]!r}, which terraform.tfvars.example does not set"
        assert name in tfvars_text, f"terraform.tfvars.example should mention {name} (at least in a comment)"


def test_the_example_passes_only_module_inputs_and_outputs() -> None:
    declared = blocks("variable")
    undeclared = sorted(set(_example_call()) - set(declared))
    assert not undeclared, f"the example passes inputs the module lacks: {undeclared}"
    outputs = blocks("output")
    for block in parse(EXAMPLE / "outputs.tf")["output"]:
        for name, body in block.items():
            reference = MODULE_OUTPUT.match(str(body["value"]))
            assert reference and reference.group(1) in outputs, f"example output {name}: {body['value']}"


def test_the_example_requires_what_the_module_requires() -> None:
    def versions(path):
        block = parse(path)["terraform"][0]
        return block["required_version"], block["required_providers"][0]["aws"]["version"]

    assert versions(EXAMPLE / "versions.tf") == versions(MODULE / "versions.tf")


def test_the_example_readme_names_each_of_its_inputs() -> None:
    readme, page = (EXAMPLE / "README.md").read_text(), DOCS_PAGE.read_text()
    for name, body in _example_variables().items():
        assert "description" in body and "type" in body, f"example variable {name} needs a description and a type"
        assert f"`{name}`" in readme, f"terraform/examples/default/README.md does not name the input {name}"
        assert f"`{name}`" in page, f"docs/terraform.md does not name the example's input {name}"
