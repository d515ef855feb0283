"""One place for each concept (issues 9 and 20), read from the source with ``ast``.

Each concept is one definition: depth levels, the longest path, placement check, parameter
count, model names, the weights format, atomic writes, the in-send-order helper, the progress
type and its display. Beyond names: no function body is a copy of another (parameters
renamed), no module computes the longest path by itself, every file is written through
``parawire._io``'s atomic writer, every file name is a constant of ``parawire.filenames``, and
the wire dtypes, staging modes and samplers are read from their registries, not copied.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

import networkx as nx
import pytest

import parawire
from _imports import SRC, source_files
from parawire import filenames
from parawire.analysis.costs import WIRE_DTYPES, spec_costs
from parawire.analysis.metrics import depth_levels as graph_depth_levels
from parawire.analysis.metrics import t1_over_cp
from parawire.analysis.simulate import check_placement
from parawire.errors import ConfigError
from parawire.graphs.dag import critical_path_length, depth_levels


def _trees() -> Iterator[tuple[str, ast.Module]]:
    for path in source_files():
        yield str(path.relative_to(SRC)), ast.parse(path.read_text("utf-8"))


def _defined(names: set[str]) -> list[str]:
    """Files (relative) defining a function or class named in ``names``, once per definition."""
    return sorted(
        rel
        for rel, tree in _trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in names
    )


@pytest.mark.parametrize(
    ("names", "home"),
    [
        ({"upward_ranks"}, ["analysis/simulate.py"]),
        ({"depth_levels", "_levels"}, ["analysis/metrics.py", "graphs/dag.py"]),
        ({"critical_path_length", "dag_depth"}, ["graphs/dag.py", "graphs/dag.py"]),
        ({"check_placement", "check_assignment", "_check_placement"},
         ["analysis/simulate.py", "runtime/plan.py"]),  # the method delegates (test below)
        ({"count_params", "count_parameters"}, ["nn/model.py"]),
        ({"resolve_model"}, ["nn/model_ref.py"]),
        ({"save_weights", "load_weights", "verify_weights"}, ["weights.py"] * 3),
        ({"atomic_write", "write_csv"}, ["_io.py", "_io.py"]),
        ({"in_send_order", "_in_order"}, ["runtime/plan.py"]),
        ({"progress_on_stderr"}, ["progress.py"]),
        ({"torch_threads"}, ["_inference.py"]),
        ({"prepare_rank_process"}, ["runtime/group.py"]),
        ({"make_plan", "plan_from_analysis", "load_plan_or_spec", "load_network", "model_for",
          "input_first"}, ["runtime/planner.py"] * 6),  # the plan makers; the Plan in plan.py
    ],
)  # fmt: skip
def test_one_definition(names: set[str], home: list[str]) -> None:
    assert _defined(names) == home


def test_one_progress_type() -> None:
    """``ProgressFn`` is assigned in one module; the others import it."""
    homes = [
        rel
        for rel, tree in _trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "ProgressFn" for t in node.targets)
    ]
    assert homes == ["progress.py"]


def test_one_progress_display() -> None:
    """Only ``parawire/progress.py`` draws progress (rich's bars): training, a search, eval and
    the commands report through a ``ProgressFn`` instead of drawing bars of their own."""
    drawing = sorted(
        rel
        for rel, tree in _trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "rich.progress"
    )
    assert drawing == ["progress.py"]


class _Params(ast.NodeTransformer):
    """Parameters renamed by position, so that a copy with other names compares equal."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    def visit_Name(self, node: ast.Name) -> ast.Name:
        return ast.Name(id=self.names.get(node.id, node.id), ctx=node.ctx)


def _shape(fn: ast.FunctionDef) -> str | None:
    """The body of ``fn`` (docstring and parameter names aside) as text; None when tiny."""
    body = fn.body[1:] if ast.get_docstring(fn) is not None else fn.body
    if sum(1 for stmt in body for _ in ast.walk(stmt)) < 25:  # a line or two: too common
        return None
    args = fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs
    rename = _Params({a.arg: f"p{i}" for i, a in enumerate(args)})
    return ast.dump(ast.Module([rename.visit(stmt) for stmt in body], type_ignores=[]))


def test_no_function_is_a_copy_of_another() -> None:
    seen: dict[str, list[str]] = {}
    for rel, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and (shape := _shape(node)) is not None:
                seen.setdefault(shape, []).append(f"{rel}:{node.lineno} {node.name}")
    assert [where for where in seen.values() if len(where) > 1] == []


def _calls(name: str) -> list[str]:
    """Where a function or method called ``name`` is called (``x.name(...)`` or ``name(...)``)."""
    found = []
    for rel, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                f = node.func
                called = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
                if called == name:
                    found.append(f"{rel}:{node.lineno}")
    return found


def test_longest_path_has_one_home() -> None:
    assert [w.split(":")[0] for w in _calls("dag_longest_path_length")] == ["graphs/dag.py"]


def test_only_io_renames_files() -> None:
    renames = [
        rel
        for rel, tree in _trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "replace"
        and getattr(node.func.value, "id", None) == "os"
    ]
    assert set(renames) == {"_io.py"}


# --- every writer through the atomic writer ---------------------------------------------------

WRITE_CALLS = {"write_text", "write_bytes", "save_file", "savefig", "copyfile", "dump"}
SAVERS = {"torch", "np", "numpy", "onnx"}  # ``torch.save(...)`` and the like write files
# Writes that are not replaced files, each with its reason: file -> reason, or
# (file, function) -> reason.
NOT_REPLACED: dict[str | tuple[str, str], str] = {
    "runtime/secret.py": "the run secret is created once, O_EXCL and mode 0600, never replaced",
    "report/browser.py": "a throwaway copy of a page in a private temporary folder",
    "latency/plot.py": "its figure writer (matplotlib's savefig), not yet through _io",
    ("report/plots.py", "png_data_uri"): "into memory (a BytesIO), no file",
}


def _is_write(node: ast.Call) -> bool:
    """A call that writes a file: ``p.write_text``, ``save_file``, ``fig.savefig``, ``json.dump``,
    ``open(..., "w")`` or ``p.open("w")``."""
    f = node.func
    name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
    if name in WRITE_CALLS:
        return True
    if name == "save" and isinstance(f, ast.Attribute):
        return getattr(f.value, "id", None) in SAVERS
    if name in ("open", "fdopen"):
        modes = [a for a in node.args[1:2] + [k.value for k in node.keywords if k.arg == "mode"]]
        if isinstance(f, ast.Attribute) and f.attr == "open" and node.args:
            modes = node.args[:1]
        return any(isinstance(m, ast.Constant) and "w" in str(m.value) for m in modes)
    return False


def _inside_atomic(parents: list[ast.AST]) -> bool:
    """Within a callback of the atomic writer (a lambda or function whose first parameter is
    ``tmp``, the temporary path it is handed) or a ``with staged_folder(...)`` block."""
    for node in parents:
        callback = isinstance(node, ast.Lambda | ast.FunctionDef) and node.args.args
        if callback and node.args.args[0].arg == "tmp":
            return True
        if isinstance(node, ast.With) and any(
            isinstance(i.context_expr, ast.Call)
            and getattr(i.context_expr.func, "id", getattr(i.context_expr.func, "attr", ""))
            == "staged_folder"
            for i in node.items
        ):
            return True
    return False


def _plain_writes() -> list[str]:
    found = []

    def visit(node: ast.AST, parents: list[ast.AST], rel: str) -> None:
        functions = [p.name for p in parents if isinstance(p, ast.FunctionDef)]
        if any((rel, fn) in NOT_REPLACED for fn in functions):
            return
        if isinstance(node, ast.Call) and _is_write(node) and not _inside_atomic(parents):
            found.append(f"{rel}:{node.lineno}")
        for child in ast.iter_child_nodes(node):
            visit(child, [*parents, node], rel)

    for rel, tree in _trees():
        if rel not in ("_io.py", *NOT_REPLACED):
            visit(tree, [], rel)
    return found


def test_every_writer_goes_through_the_atomic_writer() -> None:
    assert _plain_writes() == []


def test_the_writer_check_sees_a_plain_write() -> None:
    """A test of the test: a plain write is found, the same inside a callback is not."""
    plain = ast.parse("def f(path):\n    path.write_text('x')\n")
    wrapped = ast.parse("atomic_write(path, lambda tmp: tmp.write_text('x'))\n")
    calls = [n for n in ast.walk(plain) if isinstance(n, ast.Call)]
    assert _is_write(calls[0]) and not _inside_atomic([plain, plain.body[0]])
    lam = next(n for n in ast.walk(wrapped) if isinstance(n, ast.Lambda))
    assert _inside_atomic([wrapped, lam])


# --- names and choices read from their one home -----------------------------------------------


def _constants() -> Iterator[tuple[str, object]]:
    for rel, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant):
                yield rel, node.value
            elif isinstance(node, ast.Tuple) and all(
                isinstance(e, ast.Constant) for e in node.elts
            ):
                yield rel, tuple(e.value for e in node.elts)  # type: ignore[attr-defined]


# File names the commands' messages spell out: each is a path shown to the user, not a file the
# command opens.
CLI_MESSAGES = {
    ("cli/export_commands.py", "plan.json"),
    ("cli/serve_commands.py", "plan.json"),
    ("cli/search_commands.py", "diff.json"),
    ("cli/search_commands.py", "front.json"),
    ("cli/study_commands.py", "results.csv"),
    ("cli/study_commands.py", "tables.md"),
}


def test_file_names_are_constants_of_one_module() -> None:
    names = {
        v for k, v in vars(filenames).items() if k.isupper() and isinstance(v, str) and "." in v
    }
    found = {(rel, v) for rel, v in _constants() if v in names and rel != "filenames.py"}
    assert sorted(found - CLI_MESSAGES) == []


@pytest.mark.parametrize(
    "choices",
    [WIRE_DTYPES, parawire.arch.STAGINGS, ("nsga2", "tpe", "random"), ("nsga2", "random", "tpe")],
)
def test_choices_are_not_copied(choices: tuple[str, ...]) -> None:
    copies = sorted(
        rel for rel, v in _constants() if isinstance(v, tuple) and set(v) == set(choices)
    )
    assert len(copies) <= 1, copies  # at most the literal that registers them


def test_metrics_and_plan_delegate() -> None:
    """The adapters named above hold no copy: they call the one implementation."""
    metrics = (SRC / "analysis/metrics.py").read_text()
    assert "return dag_depth_levels(graph.dag)" in metrics
    assert "check_placement(list(self.graph.vertex_ids)" in (SRC / "runtime/plan.py").read_text()


@pytest.mark.parametrize("seed", range(5))
def test_depth_levels_against_networkx(seed: int) -> None:
    spec = parawire.generate("dp", seed=seed, n=20)
    dag = spec.graph
    levels = depth_levels(dag)
    for v in dag:  # longest path from the input to v, by networkx on v's ancestors
        assert levels[v] == nx.dag_longest_path_length(dag.subgraph(nx.ancestors(dag, v) | {v}))
    graph = spec_costs(spec)
    assert graph_depth_levels(graph) == levels
    assert {d: sorted(vs) for d, vs in spec.levels().items()} == {
        d: sorted(v for v in dag if levels[v] == d) for d in set(levels.values())
    }


@pytest.mark.parametrize("seed", range(5))
def test_critical_path_against_networkx(seed: int) -> None:
    dag = parawire.generate("er", seed=seed, n=15).graph
    assert critical_path_length(dag, dict.fromkeys(dag, 1.0)) == nx.dag_longest_path_length(dag) + 1
    # vertex weights as the weights of each vertex's out-edges (plus the sink's own) in networkx
    cost = {v: float(1 + (v * 7) % 5) for v in dag}
    edged = nx.DiGraph()
    edged.add_weighted_edges_from((u, v, cost[u]) for u, v in dag.edges)
    sink = next(v for v in dag if dag.out_degree(v) == 0)
    expected = nx.dag_longest_path_length(edged) + cost[sink]
    assert critical_path_length(dag, cost) == pytest.approx(expected)


def test_t1_over_cp_of_a_chain_is_one() -> None:
    assert t1_over_cp(spec_costs(parawire.generate("chain", seed=0, n=8))) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("placement", "devices", "match"),
    [
        ({0: 0, 1: 0}, None, "vertex 2 has no rank"),
        ({0: 0, 1: 0, 2: 0, 9: 0}, None, "names vertex 9"),
        ({0: 0, 1: 0, 2: True}, None, "integers >= 0"),
        ({0: 0, 1: 3, 2: 0}, 2, "outside 0..1: only 2 ranks"),
    ],
)
def test_check_placement_messages(placement, devices, match) -> None:
    with pytest.raises(ConfigError, match=match):
        check_placement([0, 1, 2], placement, devices, unit="rank")
