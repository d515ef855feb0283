"""What a spec may hold: its schema versions, vocabularies (operations, aggregations, merges)
and the caps that keep a hostile file from exhausting memory (``MAX_*``).
"""

from __future__ import annotations

SCHEMA_VERSION = 2


READABLE_VERSIONS = (1, 2)  # version 1 had no ``merge`` field (it always merged maps)


# Size caps: what every command (analyze's partitioner sweep and local search above all) handles
# in reasonable time: analyze of a 512-vertex, 7,882-edge spec took 26 s on 4 devices here
# (BENCHMARKS.md, hostile inputs); 2,000 vertices took minutes. RandWire's networks have ~100.
MAX_NODES = 512  # vertices of one spec


MAX_EDGES = 8_192  # edges of one spec (a dense 512-vertex graph would have 130,816)


MAX_SPEC_BYTES = 64 * 2**20  # spec files are refused above this size, before parsing


MAX_CHANNELS = 65_536  # channels of the input, the stem and every vertex


MAX_INPUT_SIDE = 16_384  # input image height and width, in pixels


MAX_CLASSES = 1_000_000  # classifier outputs


MAX_NODE_ID = 2**31 - 1  # node ids are 0..MAX_NODE_ID (they travel as int32/int64 tensors)


MAX_JSON_DEPTH = 16  # nesting of the free-form provenance values (params, staging)


OPS = ("input", "sepconv3x3", "mean")


AGGREGATIONS = ("sigmoid_weights", "sigmoid_inputs")


MERGES = ("maps", "pooled")  # how the output vertex combines the DAG's sinks (module docstring)
