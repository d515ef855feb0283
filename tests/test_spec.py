"""The architecture spec: JSON round trip and one test per validation rule."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import networkx as nx
import pytest

import parawire
from conftest import GENERATORS, STAGINGS, small_spec
from parawire.arch import MAX_NODES, ArchSpec, Edge, Node, Stage, load_spec
from parawire.errors import SpecError


def tiny() -> ArchSpec:
    """input 0 -> {1, 2} -> mean 3, all at 8 channels, scale 1."""
    return ArchSpec(
        input_shape=(3, 16, 16),
        num_classes=4,
        stem=parawire.arch.Stem(channels=8),
        nodes=(
            Node(0, "input", 8, 1),
            Node(1, "sepconv3x3", 8, 1),
            Node(2, "sepconv3x3", 8, 1),
            Node(3, "mean", 8, 1),
        ),
        edges=(Edge(0, 1), Edge(0, 2), Edge(1, 3), Edge(2, 3)),
        stages=(Stage(0, 0, 3, (0, 1, 2, 3)),),
    )


def replace(spec: ArchSpec, **changes) -> ArchSpec:
    return dataclasses.replace(spec, **changes)


@pytest.mark.parametrize("generator", GENERATORS)
@pytest.mark.parametrize("staging", STAGINGS)
def test_json_round_trip_is_exact(generator: str, staging: str, tmp_path: Path) -> None:
    spec = small_spec(generator, staging, seed=3)
    path = spec.save(tmp_path / "a.json")
    again = load_spec(path)
    assert again == spec
    assert again.to_json() == spec.to_json()
    assert ArchSpec.from_dict(json.loads(spec.to_json())) == spec


def test_spec_exposes_shapes_and_provenance() -> None:
    spec = parawire.generate("dp", seed=4, input_shape=(3, 32, 32), num_classes=7)
    assert spec.input_shape == (3, 32, 32)
    assert spec.num_classes == 7
    assert spec.provenance.generator == "dp"
    assert spec.provenance.seed == 4
    assert spec.provenance.params["n"] == 40
    assert spec.provenance.staging["name"] == "probabilistic"
    assert spec.provenance.parawire_version == parawire.__version__
    assert len(spec.nodes) == 42 and spec.stages[0].nodes[0] == spec.input_node


def _single_source_dag(spec) -> bool:
    """networkx's view of what validation accepts: a DAG whose one source is the input."""
    dag = spec.graph
    sources = [v for v in dag if dag.in_degree(v) == 0]
    return nx.is_directed_acyclic_graph(dag) and sources == [spec.input_node]


def test_tiny_is_valid() -> None:
    spec = tiny()
    spec.validate()  # raises SpecError otherwise
    assert _single_source_dag(spec) and spec.depth() == 3  # input, one sepconv, mean


def test_rejects_cycle() -> None:
    spec = replace(tiny(), edges=(*tiny().edges, Edge(2, 1), Edge(1, 2)))
    with pytest.raises(SpecError, match="cycle"):
        spec.validate()


def test_rejects_edge_to_unknown_node() -> None:
    spec = replace(tiny(), edges=(*tiny().edges, Edge(1, 9)))
    with pytest.raises(SpecError, match="unknown node 9"):
        spec.validate()


def test_rejects_node_not_on_input_output_path() -> None:
    t = tiny()
    spec = replace(
        t,
        nodes=(*t.nodes, Node(4, "sepconv3x3", 8, 1)),
        edges=(*t.edges, Edge(1, 4)),
        stages=(Stage(0, 0, 3, (0, 1, 2, 3, 4)),),
    )
    with pytest.raises(SpecError, match="node 4 is not on any input-to-output path"):
        spec.validate()


def two_stages(extra_edges: tuple[Edge, ...] = ()) -> ArchSpec:
    """tiny() followed by a second stage 4 -> 5 -> 6 (mean), entered at 4 from node 3."""
    t = tiny()
    return replace(
        t,
        nodes=(
            *t.nodes,
            Node(4, "sepconv3x3", 8, 1),
            Node(5, "sepconv3x3", 8, 1),
            Node(6, "mean", 8, 1),
        ),
        edges=(*t.edges, Edge(3, 4), Edge(4, 5), Edge(5, 6), *extra_edges),
        stages=(*t.stages, Stage(1, 4, 6, (4, 5, 6))),
    )


def test_two_stage_spec_is_valid() -> None:
    spec = two_stages()
    spec.validate()  # raises SpecError otherwise
    assert _single_source_dag(spec) and [s.nodes[0] for s in spec.stages] == [0, 4]


def test_rejects_second_input_node_in_a_stage() -> None:
    # node 5 is also fed from stage 0 directly, so it is a second entry of stage 1
    spec = replace(
        two_stages(), edges=(*tiny().edges, Edge(3, 4), Edge(3, 5), Edge(5, 6), Edge(4, 6))
    )
    with pytest.raises(SpecError, match=r"stage 1 has more than one input node.*node 5"):
        spec.validate()


def test_rejects_second_output_node_in_a_stage() -> None:
    # node 1 feeds stage 1 directly: stage 0 is left from a vertex that is not its output
    with pytest.raises(SpecError, match=r"stage 0 has more than one output node.*edge 1->5"):
        two_stages((Edge(1, 5),)).validate()


def test_rejects_a_stage_vertex_whose_only_successor_is_in_the_next_stage() -> None:
    # node 2 leaves stage 0 for node 5 alone: stage 0 has a second sink besides its output 3
    edges = (Edge(0, 1), Edge(0, 2), Edge(1, 3), Edge(3, 4), Edge(4, 5), Edge(2, 5), Edge(5, 6))
    spec = replace(two_stages(), edges=edges)
    with pytest.raises(
        SpecError, match=r"stage 0 has more than one output node \(node 2 has no successor"
    ):
        spec.validate()


def test_rejects_channel_mismatch_without_projection() -> None:
    t = tiny()
    nodes = (*t.nodes[:2], Node(2, "sepconv3x3", 16, 1), Node(3, "mean", 16, 1))
    spec = replace(t, nodes=nodes)
    with pytest.raises(SpecError, match=r"edge 0->2: channels do not agree.*project=true"):
        spec.validate()
    fixed = (Edge(0, 1), Edge(0, 2, project=True), Edge(1, 3, project=True), Edge(2, 3))
    replace(t, nodes=nodes, edges=fixed).validate()


def test_rejects_scale_mismatch_without_pooling() -> None:
    t = tiny()
    nodes = (*t.nodes[:2], Node(2, "sepconv3x3", 16, 2, stage=True), Node(3, "mean", 16, 2))
    edges = (Edge(0, 1), Edge(0, 2), Edge(1, 3, project=True), Edge(2, 3))
    with pytest.raises(SpecError, match=r"edge 1->3: scales do not agree.*pool"):
        replace(t, nodes=nodes, edges=edges).validate()
    edges = (Edge(0, 1), Edge(0, 2), Edge(1, 3, pool=2, project=True), Edge(2, 3))
    replace(t, nodes=nodes, edges=edges).validate()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"num_classes": 0}, "num_classes must be a positive integer"),
        ({"input_shape": (3, 0, 16)}, r"input_shape\[1\] must be a positive integer"),
        ({"stem": parawire.arch.Stem(channels=-2)}, "stem.channels must be a positive"),
    ],
)
def test_rejects_non_positive_sizes(change: dict, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        replace(tiny(), **change).validate()


def test_rejects_non_positive_node_channels() -> None:
    t = tiny()
    spec = replace(t, nodes=(t.nodes[0], Node(1, "sepconv3x3", 0, 1), *t.nodes[2:]))
    with pytest.raises(SpecError, match="node 1: channels must be a positive integer"):
        spec.validate()


def test_rejects_unknown_operation() -> None:
    t = tiny()
    spec = replace(t, nodes=(t.nodes[0], Node(1, "conv7x7", 8, 1), *t.nodes[2:]))
    with pytest.raises(SpecError, match="node 1: unknown operation 'conv7x7'"):
        spec.validate()


def test_rejects_unknown_schema_version() -> None:
    data = tiny().to_dict()
    data["schema_version"] = 99
    with pytest.raises(SpecError, match="unknown schema_version 99"):
        ArchSpec.from_dict(data)
    with pytest.raises(SpecError, match="unknown schema_version 99"):
        replace(tiny(), schema_version=99).validate()


def test_rejects_spec_over_size_limit() -> None:
    n = MAX_NODES + 1
    nodes = (
        Node(0, "input", 8, 1),
        *(Node(i, "sepconv3x3", 8, 1) for i in range(1, n - 1)),
        Node(n - 1, "mean", 8, 1),
    )
    spec = replace(tiny(), nodes=nodes, edges=(), stages=(Stage(0, 0, n - 1, (0, n - 1)),))
    with pytest.raises(SpecError, match=f"over the limit of {MAX_NODES}"):
        spec.validate()


def test_rejects_non_spec_documents(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    for text, match in [
        ("[1, 2]", "expected a JSON object"),
        ("{not json", "invalid JSON"),
        ('{"schema_version": 1}', "missing field"),
        ("{}", "no 'schema_version'"),
    ]:
        bad.write_text(text)
        with pytest.raises(SpecError, match=match):
            load_spec(bad)
    with pytest.raises(SpecError, match="not found"):
        load_spec(tmp_path / "missing.json")


def test_digest_ignores_provenance_but_not_structure() -> None:
    t = tiny()
    other = replace(t, provenance=parawire.arch.Provenance(generator="x", seed=5))
    assert t.digest() == other.digest()
    assert t.digest() != replace(t, num_classes=5).digest()


def test_version_1_documents_read_as_maps_merge() -> None:
    data = parawire.generate("dp", seed=3, n=12).to_dict()
    data["schema_version"] = 1
    del data["merge"]
    spec = ArchSpec.from_dict(data).validate()
    assert spec.merge == "maps" and spec.schema_version == 2
    data["schema_version"] = True  # a bool is not a version
    with pytest.raises(SpecError, match="unknown schema_version true"):
        ArchSpec.from_dict(data)


def test_pooled_merge_round_trips_and_ships_vectors() -> None:
    spec = parawire.generate("dp", seed=3, n=12, merge="pooled")
    assert ArchSpec.from_json(spec.to_json()) == spec
    sinks = {e.src for e in spec.in_edges[spec.output_node]}
    assert spec.pooled_vertices == sinks
    for v in sinks:
        assert spec.output_shape(v) == (spec.head_width, 1, 1)
    assert spec.output_shape(spec.output_node) == (spec.head_width, 1, 1)
    assert all(e.pool == 1 and not e.project for e in spec.in_edges[spec.output_node])


def test_pooled_merge_rules() -> None:
    spec = parawire.generate("dp", seed=3, n=12, merge="pooled")
    out = spec.output_node
    edge = spec.in_edges[out][0]
    scaled = replace(edge, pool=2)
    bad = replace(spec, edges=tuple(scaled if e == edge else e for e in spec.edges))
    with pytest.raises(SpecError, match="set pool=1 and project=false"):
        bad.validate()
    with pytest.raises(SpecError, match="unknown merge 'sum'"):
        replace(spec, merge="sum").validate()
    # a sink that also feeds another vertex cannot ship only its pooled vector
    first, second = sorted(spec.pooled_vertices)[:2]
    extra = Edge(first, second, project=True)
    with pytest.raises(SpecError, match=f"node {first} feeds the output vertex"):
        replace(spec, edges=(*spec.edges, extra)).validate()


# --- hostile input: every field type-checked, sizes bounded, files capped ---------------------


def with_node(data: dict, index: int, **changes) -> list[dict]:
    return [{**n, **changes} if i == index else n for i, n in enumerate(data["nodes"])]


DEEP = json.loads("[" * 18 + "1" + "]" * 18)  # an array nested 18 levels deep


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("num_classes", "10", r"spec\.num_classes must be an integer, got '10'"),
        ("num_classes", None, r"spec\.num_classes must be an integer, got null"),
        ("num_classes", True, r"spec\.num_classes must be an integer, got true"),
        ("num_classes", 10.0, r"spec\.num_classes must be an integer, got 10\.0"),
        ("input_shape", [3, "32", 32], r"spec\.input_shape\[1\] must be an integer"),
        ("input_shape", [DEEP, 32, 32], r"spec\.input_shape\[0\] must be an integer, got an"),
        ("input_shape", [3, 32], r"spec\.input_shape must be an array of 3 items, got 2"),
        ("stem", {"channels": 8, "stride": 2.0}, r"spec\.stem\.stride must be an integer"),
        ("head", {"dropout": float("nan")}, r"spec\.head\.dropout must be a finite number"),
        ("head", {"dropout": "0.1"}, r"spec\.head\.dropout must be a finite number"),
        ("aggregation", None, r"spec\.aggregation must be a string, got null"),
        ("nodes", 5, r"spec\.nodes must be an array, got 5"),
        ("nodes", [5], r"spec\.nodes\[0\] must be an object, got 5"),
        (
            "stages",
            [{"index": "0", "input": 0, "output": 3, "nodes": [0, 1, 2, 3]}],
            r"spec\.stages\[0\]\.index must be an integer",
        ),
        (
            "provenance",
            {"generator": "x", "params": {"a": DEEP}},
            r"spec\.provenance\.params\.a(\[0\])+ is nested more than 16 levels deep",
        ),
        ("provenance", {"generator": "x", "seed": "3"}, r"spec\.provenance\.seed must be an"),
    ],
)
def test_from_dict_type_checks_every_field(field: str, value, match: str) -> None:
    data = tiny().to_dict()
    data[field] = value
    with pytest.raises(SpecError, match=match):
        ArchSpec.from_dict(data)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"stage": "yes"}, r"spec\.nodes\[1\]\.stage must be true or false, got 'yes'"),
        ({"stage": 1}, r"spec\.nodes\[1\]\.stage must be true or false, got 1"),
        ({"scale": "1"}, r"spec\.nodes\[1\]\.scale must be an integer, got '1'"),
        ({"channels": float("inf")}, r"spec\.nodes\[1\]\.channels must be an integer, got inf"),
        ({"op": None}, r"spec\.nodes\[1\]\.op must be a string, got null"),
        ({"colour": "red"}, r"spec\.nodes\[1\] has unknown field 'colour'"),
    ],
)
def test_from_dict_type_checks_node_fields(changes: dict, match: str) -> None:
    data = tiny().to_dict()
    data["nodes"] = with_node(data, 1, **changes)
    with pytest.raises(SpecError, match=match):
        ArchSpec.from_dict(data)


def test_edge_and_missing_fields_are_checked() -> None:
    data = tiny().to_dict()
    data["edges"] = [{**e, "project": "no"} for e in data["edges"]]
    with pytest.raises(SpecError, match=r"spec\.edges\[0\]\.project must be true or false"):
        ArchSpec.from_dict(data)
    data = tiny().to_dict()
    del data["nodes"][2]["op"]
    with pytest.raises(SpecError, match=r"spec\.nodes\[2\] is missing field 'op'"):
        ArchSpec.from_dict(data)


def test_validate_type_checks_a_spec_built_in_python() -> None:
    t = tiny()
    spec = replace(t, nodes=(t.nodes[0], Node(1, "sepconv3x3", 8, 1, stage="yes"), *t.nodes[2:]))  # type: ignore[arg-type]
    with pytest.raises(SpecError, match=r"spec\.nodes\[1\]\.stage must be true or false"):
        spec.validate()
    with pytest.raises(SpecError, match=r"spec\.num_classes must be an integer"):
        replace(t, num_classes=4.0).validate()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"schema_version": 2, "num_classes": Infinity}', "Infinity is not a number JSON allows"),
        ('{"schema_version": 2, "num_classes": NaN}', "NaN is not a number JSON allows"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"schema_version": 2, "num_classes": ' + "9" * 5000 + "}", "a number in it is too long"),
        ('{"schema_version": 1.0}', "unknown schema_version 1.0"),
    ],
)
def test_from_json_rejects_hostile_text(text: str, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        ArchSpec.from_json(text)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"num_classes": 10**12}, "num_classes must be a positive integer no larger than 1,000,"),
        ({"input_shape": (3, 10**6, 16)}, r"input_shape\[1\] must be .* no larger than 16,384"),
        ({"input_shape": (10**6, 16, 16)}, r"input_shape\[0\] must be .* no larger than 65,536"),
        ({"stem": parawire.arch.Stem(channels=10**12)}, "stem.channels must be .* 65,536"),
        ({"stem": parawire.arch.Stem(channels=8, stride=32)}, "stem.stride must be a power of"),
    ],
)
def test_sizes_are_bounded(change: dict, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        replace(tiny(), **change).validate()


def test_node_channels_and_ids_are_bounded() -> None:
    t = tiny()
    wide = replace(t, nodes=(t.nodes[0], Node(1, "sepconv3x3", 10**12, 1), *t.nodes[2:]))
    with pytest.raises(SpecError, match=r"node 1: channels must be .* no larger than 65,536"):
        wide.validate()
    far = replace(t, nodes=(*t.nodes[:3], Node(2**40, "mean", 8, 1)))
    with pytest.raises(SpecError, match="node id 1099511627776 is out of range"):
        far.validate()


@pytest.mark.timeout(60)
def test_duplicate_id_check_is_linear() -> None:
    # the duplicate is the last id: a check counting each id in the list took about a minute here
    n = MAX_NODES
    nodes = (
        Node(0, "input", 8, 1),
        *(Node(i, "sepconv3x3", 8, 1) for i in range(1, n - 1)),
        Node(n - 2, "mean", 8, 1),
    )
    spec = replace(tiny(), nodes=nodes, edges=(), stages=(Stage(0, 0, n - 2, (0, n - 2)),))
    with pytest.raises(SpecError, match=f"node id {n - 2} appears more than once"):
        spec.validate()


def test_spec_files_are_capped_before_parsing(tmp_path: Path, monkeypatch) -> None:
    from parawire.arch import spec as spec_module

    big = tmp_path / "big.json"
    big.write_text(" " * 5000 + tiny().to_json())
    monkeypatch.setattr(spec_module, "MAX_SPEC_BYTES", 4096)
    with pytest.raises(SpecError, match="is over 4,096 bytes"):
        load_spec(big)
    with pytest.raises(SpecError, match="not a regular file"):
        load_spec("/dev/zero")  # not a regular file: refused before a byte is read
    with pytest.raises(SpecError, match="is a folder"):
        load_spec(tmp_path)
