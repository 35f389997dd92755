"""Workflow specs (GRADIENT.md §4): parsed into a typed model and validated before anything
runs, every problem naming its file, line and key (workflows/spec.py)."""

from __future__ import annotations

from typing import Any

import pytest

from cargohold.errors import DatasetNotFound, InvalidInput, InvalidSpec, VersionNotFound
from cargohold.workflows import (
    Action,
    SecretRef,
    Spec,
    check_refs,
    load_spec,
    topological_order,
)
from tests import workflow_seed

# The two examples of the seed document, refs and clone URL changed.
SEED_READ = workflow_seed.SEED_READ.format(ref="my-dataset")
SEED_CHAIN = workflow_seed.SEED_CHAIN.format(ref="my-dataset", url="/srv/git/repo")

# GRADIENT.md §4.4, with every kind of declaration.
FULL = """\
defaults:
  env: {HELLO: secret:hello}
  resources: {instance-type: P4000}
inputs:
  data: {type: dataset, with: {ref: test-one}}
  echo: {type: string, with: {value: "hello world"}}
  old: {type: dataset, with: {id: dst364npcw6ccok}}
jobs:
  job-1:
    inputs:
      data: workflow.inputs.data
      echo: workflow.inputs.echo
    outputs:
      data2: {type: dataset, with: {ref: test-two}}
      echo2: {type: string}
      vol: {type: volume}
    env: {TSTVAR: test}
    uses: container@v1
    with:
      image: bash:5
      args: [bash, -c, "find /inputs/data > /outputs/data2/list.txt"]
  job-2:
    needs: [job-1]
    inputs:
      data2: job-1.outputs.data2
      echo2: job-1.outputs.echo2
      pinned: {type: dataset, with: {ref: "team/test-one:v1"}}
      word: {type: string, with: {value: hi}}
      scratch: {type: volume}
    outputs:
      data3: {type: dataset, with: {ref: test-three}}
    uses: script@v1
    with: {script: "wc -l /inputs/data2/list.txt"}
  checkout:
    outputs:
      repo: {type: volume}
    uses: git-checkout@v1
    with: {url: "file:///srv/git/repo", ref: main, password: secret:git}
  fetch:
    outputs:
      raw: {type: dataset, with: {ref: raw}}
    uses: s3-download@v1
    with:
      url: s3://bucket/path/
      endpoint: http://localhost:8333
      region: us-east-1
      access-key: secret:s3-key
      secret-access-key: secret:s3-secret
  last:
    needs: [job-2, checkout, fetch]
    inputs:
      repo: checkout.outputs.repo
      raw: fetch.outputs.raw
      data3: job-2.outputs.data3
    uses: container@v1
    with: {image: bash:5, command: bash, args: [-c, "true"]}
"""


def problems_of(text: str, **kwargs: Any) -> list[dict[str, Any]]:
    with pytest.raises(InvalidSpec) as caught:
        load_spec(text, **kwargs)
    assert isinstance(caught.value, InvalidInput)
    assert caught.value.code == "invalid-spec"
    found: list[dict[str, Any]] = caught.value.details["problems"]
    for p in found:  # every problem is in the message, as file:line: key: problem
        where = f"{p['source']}:{p['line']}: "
        assert where + (f"{p['key']}: " if p["key"] else "") + p["problem"] in str(caught.value)
    return found


def one_problem(text: str, line: int, key: str, fragment: str, **kwargs: Any) -> str:
    found = problems_of(text, **kwargs)
    assert len(found) == 1, found
    assert (found[0]["line"], found[0]["key"]) == (line, key), found
    assert fragment in found[0]["problem"], found
    return str(found[0]["problem"])


def edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


# ---- what parses ----------------------------------------------------------------------


def test_seed_example_reading_a_dataset() -> None:
    spec = load_spec(SEED_READ)
    assert list(spec.jobs) == ["job-1"]
    job = spec.jobs["job-1"]
    assert job.uses == Action("container", "v1")
    assert job.with_ == {"image": "bash:5", "args": ["bash", "-c", "ls /inputs/my-dataset"]}
    assert job.needs == ()
    data = job.inputs["my-dataset"]
    assert (data.type, data.ref, data.is_alias) == ("dataset", "my-dataset", False)
    assert data.line == 7 and data.key == "jobs.job-1.inputs.my-dataset"
    assert topological_order(spec) == [["job-1"]]


def test_seed_example_chaining_two_jobs() -> None:
    spec = load_spec(SEED_CHAIN)
    out = spec.jobs["job-1"].outputs["my-dataset"]
    assert (out.type, out.ref, out.line) == ("dataset", "my-dataset", 7)
    job2 = spec.jobs["job-2"]
    assert job2.needs == ("job-1",)
    created = job2.inputs["my-created-dataset"]
    assert (created.type, created.job, created.output) == ("dataset", "job-1", "my-dataset")
    assert created.ref is None and created.line == 21
    assert topological_order(spec) == [["job-1"], ["job-2"]]


def test_full_example_every_declaration() -> None:
    spec = load_spec(FULL)
    assert isinstance(spec, Spec)
    assert spec.defaults.env == {"HELLO": SecretRef("hello")}
    assert spec.defaults.resources == {"instance-type": "P4000"}
    assert spec.inputs["data"].ref == "test-one"
    assert spec.inputs["echo"].value == "hello world"
    assert spec.inputs["old"].ref == "dst364npcw6ccok"  # the older with.id
    job1, job2 = spec.jobs["job-1"], spec.jobs["job-2"]
    assert job1.inputs["data"].workflow_input == "data"
    assert job1.inputs["data"].type == "dataset"
    assert job1.inputs["echo"].type == "string"
    assert {n: o.type for n, o in job1.outputs.items()} == {
        "data2": "dataset",
        "echo2": "string",
        "vol": "volume",
    }
    assert job1.env == {"TSTVAR": "test"}
    assert job2.inputs["echo2"].type == "string"
    assert job2.inputs["pinned"].ref == "team/test-one:v1"
    assert job2.inputs["word"].value == "hi"
    assert job2.inputs["scratch"].type == "volume"
    assert job2.uses == Action("script", "v1")
    assert spec.jobs["checkout"].with_["password"] == SecretRef("git")
    assert spec.jobs["fetch"].with_["secret-access-key"] == SecretRef("s3-secret")
    assert spec.jobs["last"].inputs["repo"].type == "volume"
    assert topological_order(spec) == [["job-1", "checkout", "fetch"], ["job-2"], ["last"]]


def test_inputs_file_fills_and_overrides_workflow_inputs() -> None:
    spec_text = edit(FULL, "data: {type: dataset, with: {ref: test-one}}", "data: {type: dataset}")
    problems_of(spec_text)  # no value: refused
    spec = load_spec(spec_text, run_inputs="data: {id: other-set:v2}\necho: {value: bye}\n")
    assert spec.inputs["data"].ref == "other-set:v2"
    assert spec.inputs["data"].line == 1
    assert spec.inputs["echo"].value == "bye"
    wrapped = load_spec(spec_text, run_inputs="inputs:\n  data: {ref: third}\n")
    assert wrapped.inputs["data"].ref == "third"


def test_inputs_file_problems_name_that_file() -> None:
    found = problems_of(FULL, run_inputs="data: {ref: 'bad ref!'}\nnope: {value: x}\n")
    assert {(p["source"], p["line"], p["key"]) for p in found} == {
        ("inputs.yaml", 1, "data.ref"),
        ("inputs.yaml", 2, "nope"),
    }


# ---- what is refused, with its line and key -------------------------------------------


def test_workflow_input_without_value() -> None:
    text = edit(FULL, 'echo: {type: string, with: {value: "hello world"}}', "echo: {type: string}")
    one_problem(text, 6, "inputs.echo", "--inputPath")


def test_unknown_top_level_key_github_actions_name() -> None:
    msg = one_problem("name: my workflow\n" + SEED_READ, 1, "name", "unknown key")
    assert "GitHub-Actions" in msg


@pytest.mark.parametrize(
    ("old", "new", "line", "key"),
    [
        (
            "    uses: container@v1\n",
            "    runs-on: ubuntu\n    uses: container@v1\n",
            8,
            "jobs.job-1.runs-on",
        ),
        (
            "        type: dataset\n",
            "        type: dataset\n        mode: ro\n",
            6,
            "jobs.job-1.inputs.my-dataset.mode",
        ),
        (
            "          ref: my-dataset\n",
            "          ref: my-dataset\n          version: x\n",
            8,
            "jobs.job-1.inputs.my-dataset.with.version",
        ),
        (
            "      image: bash:5\n",
            "      image: bash:5\n      imag: bash\n",
            11,
            "jobs.job-1.with.imag",
        ),
    ],
)
def test_unknown_keys_at_every_level(old: str, new: str, line: int, key: str) -> None:
    one_problem(edit(SEED_READ, old, new), line, key, "unknown key")


def test_unknown_keys_in_defaults() -> None:
    found = problems_of("defaults:\n  envs: {}\n  resources: {gpu: 1}\n" + SEED_READ)
    assert [(p["line"], p["key"]) for p in found] == [
        (2, "defaults.envs"),
        (3, "defaults.resources.gpu"),
    ]


def test_unknown_action_and_version() -> None:
    one_problem(
        edit(SEED_READ, "container@v1", "docker@v1"), 8, "jobs.job-1.uses", "unknown action"
    )
    msg = one_problem(edit(SEED_READ, "container@v1", "container@v2"), 8, "jobs.job-1.uses", "")
    assert "unknown version of container" in msg and "container@v1" in msg


def test_missing_uses_and_required_with_keys() -> None:
    one_problem(
        edit(SEED_READ, "    uses: container@v1\n", ""), 2, "jobs.job-1", "missing key uses"
    )
    one_problem(edit(SEED_READ, "      image: bash:5\n", ""), 9, "jobs.job-1.with", "with.image")
    s3 = (
        "jobs:\n  j:\n    outputs: {raw: {type: volume}}\n    uses: s3-download@v1\n"
        "    with:\n      url: s3://b/\n      access-key: k\n      secret-access-key: plain\n"
    )
    msg = one_problem(s3, 8, "jobs.j.with.secret-access-key", "must be a secret")
    assert "secret:NAME" in msg
    found = problems_of(
        "jobs:\n  j:\n    outputs: {raw: {type: volume}}\n    uses: s3-download@v1\n"
        "    with: {url: s3://b/}\n"
    )
    assert {p["problem"].split(" (")[0] for p in found} == {
        "missing key with.access-key",
        "missing key with.secret-access-key",
    }


def test_unknown_type() -> None:
    text = edit(SEED_READ, "        type: dataset\n", "        type: git\n")
    one_problem(text, 5, "jobs.job-1.inputs.my-dataset.type", "unknown type 'git'")


def test_needs_unknown_job() -> None:
    text = edit(SEED_CHAIN, "      - job-1\n", "      - job-1\n      - job-9\n")
    one_problem(text, 20, "jobs.job-2.needs.1", "unknown job 'job-9'")


def test_cycle_is_named() -> None:
    text = edit(SEED_CHAIN, "  job-1:\n", "  job-1:\n    needs: [job-2]\n")
    msg = one_problem(text, 3, "jobs.job-1.needs", "cycle")
    assert "job-1 -> job-2 -> job-1" in msg


def test_self_cycle() -> None:
    text = edit(SEED_READ, "  job-1:\n", "  job-1:\n    needs: job-1\n")
    one_problem(text, 3, "jobs.job-1.needs", "job-1 -> job-1")


def test_job_output_without_needs() -> None:
    text = edit(SEED_CHAIN, "    needs:\n      - job-1\n", "")
    msg = one_problem(text, 19, "jobs.job-2.inputs.my-created-dataset", "")
    assert msg == 'job-1.outputs.my-dataset is used without "needs: [job-1]"'


def test_transitive_needs_is_not_enough() -> None:
    # Gradient required the producing job in the job's own needs (GRADIENT.md §4.2)
    text = SEED_CHAIN + (
        "  job-3:\n"
        "    needs: [job-2]\n"
        "    inputs:\n"
        "      again: job-1.outputs.my-dataset\n"
        "    uses: container@v1\n"
        "    with: {image: bash:5, args: [ls]}\n"
    )
    one_problem(text, 29, "jobs.job-3.inputs.again", 'without "needs: [job-1]"')


def test_unknown_job_output_and_workflow_input() -> None:
    found = problems_of(
        edit(
            SEED_CHAIN,
            "      my-created-dataset: job-1.outputs.my-dataset\n",
            "      a: job-1.outputs.nope\n      b: job-7.outputs.x\n      c: workflow.inputs.w\n"
            "      d: just-a-name\n",
        )
    )
    assert [(p["line"], p["key"]) for p in found] == [
        (21, "jobs.job-2.inputs.a"),
        (22, "jobs.job-2.inputs.b"),
        (23, "jobs.job-2.inputs.c"),
        (24, "jobs.job-2.inputs.d"),
    ]
    assert "has no output 'nope'" in found[0]["problem"]
    assert "unknown job 'job-7'" in found[1]["problem"]
    assert "unknown workflow input 'w'" in found[2]["problem"]
    assert "neither" in found[3]["problem"]


def test_string_output_used_as_dataset() -> None:
    text = edit(FULL, "      pinned: {type: dataset, with: {ref: \"team/test-one:v1\"}}",
                "      pinned: {type: dataset, with: {ref: job-1.outputs.echo2}}")  # fmt: skip
    msg = one_problem(text, 27, "jobs.job-2.inputs.pinned.with.ref", "")
    assert msg == "job-1.outputs.echo2 is a string, used as a dataset"


def test_bad_refs() -> None:
    found = problems_of(
        edit(
            edit(SEED_CHAIN, "          ref: my-dataset\n", "          ref: my-dataset:v3\n"),
            "      my-created-dataset: job-1.outputs.my-dataset\n",
            "      my-created-dataset: job-1.outputs.my-dataset\n"
            "      x: {type: dataset, with: {ref: 'bad name!'}}\n",
        )
    )
    assert [(p["line"], p["key"]) for p in found] == [
        (7, "jobs.job-1.outputs.my-dataset.with.ref"),
        (22, "jobs.job-2.inputs.x.with.ref"),
    ]
    assert "not a version" in found[0]["problem"]
    assert "Invalid dataset ID or name" in found[1]["problem"]


def test_bad_yaml_names_its_line() -> None:
    found = problems_of("jobs:\n  job-1:\n    uses: [container@v1\n")
    assert len(found) == 1 and found[0]["line"] == 4 and "invalid YAML" in found[0]["problem"]
    found = problems_of("jobs:\n  a: 1\n b: 2\n")
    assert found[0]["line"] == 3


def test_recursive_and_exploding_aliases_are_refused() -> None:
    one_problem("jobs: &j {a: {uses: container@v1, with: {image: x, args: *j}}}\n", 1, "", "itself")
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdef", "bcdefg", strict=True)
    )
    one_problem(bomb + "jobs: {}\n", 1, "", "more than")


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just text\n"])
def test_spec_not_a_mapping(text: str) -> None:
    one_problem(text, 1, "", "a workflow spec is a mapping")


def test_missing_jobs_and_duplicate_keys() -> None:
    one_problem("defaults: {}\n", 1, "", "missing key jobs")
    text = edit(SEED_READ, "      image: bash:5\n", "      image: bash:5\n      image: bash:4\n")
    one_problem(text, 11, "jobs.job-1.with.image", "duplicate key")


def test_several_problems_are_all_listed() -> None:
    text = "name: wf\n" + edit(
        edit(SEED_CHAIN, "    needs:\n      - job-1\n", ""),
        "    uses: container@v1\n",
        "    uses: nope@v1\n",
    ).replace("type: dataset", "type: blob")
    with pytest.raises(InvalidSpec) as caught:
        load_spec(text, source="flows/spec.yaml")
    message = str(caught.value)
    assert message.startswith("flows/spec.yaml: 4 problems:\n")
    assert "flows/spec.yaml:1: name: unknown key" in message
    assert "flows/spec.yaml:6: jobs.job-1.outputs.my-dataset.type: unknown type 'blob'" in message
    assert "flows/spec.yaml:9: jobs.job-1.uses: unknown action 'nope@v1'" in message
    assert (
        "flows/spec.yaml:20: jobs.job-2.inputs.my-created-dataset: job-1.outputs.my-dataset"
        in message
    )
    lines = [p["line"] for p in caught.value.details["problems"]]
    assert lines == sorted(lines)


# ---- the catalog ----------------------------------------------------------------------


def test_check_refs_names_the_line_of_unknown_datasets() -> None:
    spec = load_spec(FULL)
    asked: list[str] = []

    def resolve(ref: str) -> object:
        asked.append(ref)
        if "test-one" in ref:
            raise DatasetNotFound(f"No dataset {ref.split(':')[0]!r}")
        if ref in ("raw", "test-three"):
            raise VersionNotFound(f"Dataset {ref!r} has no committed version")
        return object()

    with pytest.raises(InvalidSpec) as caught:
        check_refs(spec, resolve)
    assert set(asked) == {
        "test-one",
        "dst364npcw6ccok",
        "team/test-one:v1",
        "test-two",
        "test-three",
        "raw",
    }
    found = caught.value.details["problems"]
    # the inputs named by an unknown dataset, not the outputs of a dataset with no version yet
    assert [(p["line"], p["key"]) for p in found] == [
        (5, "inputs.data"),
        (27, "jobs.job-2.inputs.pinned"),
    ]
    assert "spec.yaml:5: inputs.data: 'test-one': No dataset 'test-one'" in str(caught.value)
    check_refs(load_spec(SEED_CHAIN), lambda ref: object())  # all found: nothing raised


def test_topological_order_waves() -> None:
    text = """\
jobs:
  d: {needs: [b, c], uses: script@v1, with: {script: x}}
  b: {needs: [a], uses: script@v1, with: {script: x}}
  a: {uses: script@v1, with: {script: x}}
  c: {needs: [a], uses: script@v1, with: {script: x}}
  e: {uses: script@v1, with: {script: x}}
"""
    assert topological_order(load_spec(text)) == [["a", "e"], ["b", "c"], ["d"]]


def test_where_an_action_writes_and_what_a_container_runs() -> None:
    two = (
        "jobs:\n  j:\n    outputs: {a: {type: volume}, b: {type: volume}}\n"
        "    uses: git-checkout@v1\n    with: {url: /srv/repo}\n"
    )
    msg = one_problem(two, 2, "jobs.j", "single volume or dataset output (it has 2: a, b)")
    assert "with.path" in msg
    load_spec(edit(two, "url: /srv/repo", "url: /srv/repo, path: /outputs/b/src"))
    one_problem(
        edit(two, "url: /srv/repo", "url: /srv/repo, path: /etc"),
        5,
        "jobs.j.with.path",
        "/outputs/NAME",
    )
    one_problem(
        edit(SEED_READ, '      args: ["bash", "-c", "ls /inputs/my-dataset"]\n', ""),
        9,
        "jobs.job-1.with",
        "give args (or command)",
    )


def test_unprintable_characters_are_bad_yaml() -> None:
    one_problem("jobs:\n  j: \x1f\n", 2, "", "invalid YAML")
