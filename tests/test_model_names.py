"""Model names: analyze, plan, run, export, train and eval take the same names, decided in one
place, ``parawire.nn.model_ref`` (issue 20, item 3)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

import parawire
from parawire.analysis.api import resolve_graph
from parawire.cli import main
from parawire.errors import ConfigError, DataError
from parawire.nn.model_ref import ModelRef, model_or_file
from parawire.registry import did_you_mean
from parawire.runtime.planner import load_network
from parawire.train.models import model_source

SRC = Path(parawire.__file__).parent
HOME = "nn/model_ref.py"

NAMES = ["cifarnet", "resnet20", "torchvision:resnet18"]
# misspelled -> what "did you mean" offers
MISSPELLED = {
    "resnet2": "resnet20",
    "cifarnett": "cifarnet",
    "resnet18": "torchvision:resnet18",  # a torchvision model without its prefix
    "torchvision:resnt18": "torchvision:resnet18",
    "resnt18": "torchvision:resnet18",  # closer to a torchvision model than to any baseline
}


def _analyze(name: str) -> str:
    return resolve_graph(name).name


def _plan(name: str) -> str:
    network = load_network(name)
    assert isinstance(network, str)
    return network


def _train(name: str) -> str:
    ref = model_source(name, (3, 32, 32), 10)  # what `train` and `eval` build for the data set
    with torch.inference_mode():
        assert ref.build().eval()(ref.example(2)).shape == (2, 10)
    return ref.label


ENTRY_POINTS = {"analyze": _analyze, "plan, run, export": _plan, "train, eval": _train}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize("name", NAMES)
def test_every_entry_point_takes_the_same_names(entry: str, name: str) -> None:
    assert ENTRY_POINTS[entry](name) == name


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_the_old_baseline_spelling_still_works_everywhere(entry: str) -> None:
    with pytest.warns(FutureWarning, match="deprecated"):
        assert ENTRY_POINTS[entry]("baseline:cifarnet") == "cifarnet"


def test_a_spec_file_is_a_file_and_a_name_is_a_name(tmp_path: Path) -> None:
    spec = parawire.generate("ws", seed=0, n=6, k=2)
    path = spec.save(tmp_path / "cifarnet")  # a file wins over the model of the same name
    assert model_or_file(path) == path and model_or_file(str(path)) == path
    assert model_or_file("cifarnet") == "cifarnet"
    assert load_network(path).digest() == spec.digest()
    (tmp_path / "w.safetensors").write_bytes(b"")
    with pytest.raises(ConfigError, match="pass it as --weights"):
        model_or_file(tmp_path / "w.safetensors")


@pytest.mark.parametrize(("wrong", "meant"), sorted(MISSPELLED.items()))
def test_a_misspelled_name_gets_did_you_mean(wrong: str, meant: str) -> None:
    for entry in ENTRY_POINTS.values():
        with pytest.raises(ConfigError, match="accepted forms") as info:
            entry(wrong)
        assert f"did you mean {meant!r}?" in str(info.value), str(info.value)


def test_a_missing_spec_file_gets_no_model_suggestion() -> None:
    with pytest.raises(ConfigError, match="neither a spec file nor a model name") as info:
        model_or_file("runs/resnet20.json")
    assert "did you mean" not in str(info.value)


@pytest.mark.parametrize(
    "args",
    [
        ["analyze", "resnet2"],
        ["plan", "resnet2", "-n", "2", "-o", "{tmp}/p"],
        ["run", "resnet2", "-n", "2"],
        ["export", "resnet2", "-n", "2", "-o", "{tmp}/x"],
        ["train", "resnet2", "--dataset", "synthetic", "--out", "{tmp}/t"],
        ["eval", "resnet2", "--weights", "{tmp}/w.safetensors", "--dataset", "synthetic"],
    ],
    ids=lambda args: args[0],
)
def test_every_command_says_the_same_about_a_misspelled_name(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([a.format(tmp=tmp_path) for a in args]) == 1
    err = capsys.readouterr().err.strip()
    assert "'resnet2' is neither a spec file nor a model name (did you mean 'resnet20'?)" in err
    assert "\n" not in err


def test_did_you_mean() -> None:
    assert did_you_mean("digts", ["digits", "cifar10"]) == " (did you mean 'digits'?)"
    assert did_you_mean("x", ["digits", "cifar10"]) == ""
    assert did_you_mean("vgg", ["vgg11"], prefix="tv:") == " (did you mean 'tv:vgg11'?)"


def test_a_plan_record_round_trips_and_reads_old_checkpoints() -> None:
    ref = ModelRef.named("resnet20", (1, 16, 16), 7)
    assert ModelRef.from_dict(ref.to_dict()) == ref
    old = {"spec": None, "baseline": "resnet20", "input_shape": [1, 16, 16], "num_classes": 7}
    assert ModelRef.from_dict(old) == ref  # a checkpoint written before ModelRef
    spec = parawire.generate("ws", seed=0, n=6, k=2)
    assert ModelRef.from_dict(ModelRef.from_spec(spec).to_dict()).digest == spec.digest()
    with pytest.raises(DataError, match="malformed model description"):
        ModelRef.from_dict({**ref.to_dict(), "spec": {"schema_version": "nope"}})


# --- one home: no other module decides "file or name" or describes a named model ------------


def _modules() -> dict[str, ast.Module]:
    return {str(p.relative_to(SRC)): ast.parse(p.read_text("utf-8")) for p in SRC.rglob("*.py")}


def _called(tree: ast.AST) -> set[str]:
    """Names of the functions and methods ``tree`` calls."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            names.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return names


def test_one_class_describes_a_named_model() -> None:
    homes = [
        path
        for path, tree in _modules().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and node.name in ("ModelRef", "ModelSource")
    ]
    assert homes == [HOME]


def test_no_other_module_reads_model_names() -> None:
    """Only the resolver parses a name: nothing else asks ``baseline_name`` or tests a string
    for the torchvision prefix."""
    readers = set()
    for path, tree in _modules().items():
        if "baseline_name" in _called(tree) and path not in (HOME, "nn/baselines.py"):
            readers.add(path)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("startswith", "partition", "split")
                and any(
                    isinstance(a, ast.Constant) and "torchvision" in str(a.value) for a in node.args
                )
            ):
                readers.add(path)
    assert readers - {HOME} == set()


@pytest.mark.parametrize(
    ("module", "function"),
    [
        ("analysis/api.py", "_graph_from_name"),
        ("runtime/planner.py", "load_network"),
        ("runtime/planner.py", "load_plan_or_spec"),
        ("train/models.py", "model_source"),
    ],
)
def test_every_entry_point_asks_the_one_resolver(module: str, function: str) -> None:
    tree = _modules()[module]
    (body,) = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function]
    assert "model_or_file" in _called(body)
    assert not {"is_file", "exists"} & _called(body)  # no second "is it a file?" of its own
