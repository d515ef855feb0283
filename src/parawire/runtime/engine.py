"""One rank's share of a split inference: its vertices, their inputs and outputs.

Per inference, a rank (1) pre-posts one ``irecv`` per remote input it needs, into buffers whose
shapes come from the plan's graph (``parawire.runtime.graph``: a spec, or a traced model whose
vertex may hand on several tensors, in one message), (2) runs its vertices in the order of the
plan's schedule (the one the simulation predicted), waiting (bounded) only for the inputs of the
vertex at hand, (3) sends each output once to every other rank that consumes it, in the
schedule's send order (``isend``: computation goes on while data moves), and (4) waits for its
sends at the end. Each inference's trace (vertex, start, end; ``time.perf_counter``, one clock
for every process of a machine) is kept for the report, and so is where the rank's time went
(:data:`PARTS`: computing, waiting for inputs, unpacking them, packing and issuing sends,
waiting for the sends at the end, and the runtime's own work in between). With ``pad`` (device
emulation) each vertex is padded to its emulated duration after computing for real. There is
no barrier: ranks other than the driver are paced by their inputs. Messages are tagged by
producer vertex and inference slot; gloo keeps messages of one (pair, tag) in order. Every
tensor travels in the plan's wire dtype (``parawire.runtime.wire``) and is computed with in float32.

Rank 0 is the driver: it holds the image and gets the logits. The image goes to every rank that
runs the stem (with image scatter: every rank hosting a consumer of the input vertex) and the
logits come back from the output vertex's rank when that is not 0.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from parawire.errors import ConfigError, RuntimeTimeoutError
from parawire.runtime.link import LinkModel, Outbox, _first_line, wait_until
from parawire.runtime.plan import Plan, in_send_order
from parawire.runtime.wire import from_wire, to_wire, wire_buffer

IMAGE_TAG = 0  # tags 0/1: the image; 2/3: the logits; 4 + 2*v (+1): vertex v's output
LOGITS_TAG = 2
SLOTS = 2  # tags per message kind: inferences whose messages may be in flight at once
# where one rank's inference time goes (seconds each; "other_s" is the rest of "total_s": the
# runtime's own Python between those steps, posting receives, freeing tensors)
PARTS = ("compute_s", "wait_s", "recv_s", "send_s", "drain_s", "other_s")


class _Clock:
    """Seconds spent per part of an inference (``with clock("send_s"): ...``)."""

    def __init__(self) -> None:
        self.spent = dict.fromkeys(PARTS, 0.0)

    @contextmanager
    def __call__(self, part: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.spent[part] += time.perf_counter() - start

    def finish(self, started: float) -> dict[str, float]:
        """The parts, the rest as ``other_s``, and ``total_s`` since ``started``."""
        total = time.perf_counter() - started
        known = sum(v for k, v in self.spent.items() if k != "other_s")
        return {**self.spent, "other_s": max(total - known, 0.0), "total_s": total}


def vertex_tag(vertex: int, step: int, slots: int = SLOTS) -> int:
    """The gloo tag of ``vertex``'s output in inference ``step`` (``slots`` rotating tags)."""
    return 2 * slots + slots * vertex + step % slots


def image_tag(step: int, slots: int = SLOTS) -> int:
    """The gloo tag of the image of inference ``step``."""
    return IMAGE_TAG + step % slots


def logits_tag(step: int, slots: int = SLOTS) -> int:
    """The gloo tag of the logits of inference ``step`` (sent back to rank 0)."""
    return slots + step % slots


@dataclass
class Started:
    """Rank 0's inference in flight: its logits, or the receive that brings them."""

    step: int
    logits: torch.Tensor | None  # computed on rank 0
    receive: tuple[torch.Tensor, dist.Work] | None  # (buffer, work) from the output rank


@dataclass(frozen=True)
class RemoteInput:
    """An output of another rank that this rank needs once per inference."""

    vertex: int  # producer vertex id
    src: int  # rank that computes it
    shape: tuple[int, ...]  # one image's share of the message, known in advance (the graph)


def _last_uses(
    order: list[int] | tuple[int, ...], inputs: dict[int, list[int]], keep: int
) -> dict[int, list[int]]:
    """Vertex -> the outputs (local or received) last read by it, which can then be freed."""
    last: dict[int, int] = {}
    for v in order:
        for u in inputs[v]:
            last[u] = v
    free: dict[int, list[int]] = {v: [] for v in order}
    for u, v in last.items():
        if u != keep:
            free[v].append(u)
    return free


class RankEngine:
    """The modules, receive list and send list of one rank; ``infer`` runs one inference.

    ``parts`` holds the modules of this rank's vertices (and the head on the output vertex's
    rank): ``parts.run(v, args)`` computes a vertex, ``parts.finish`` the logits.
    """

    def __init__(
        self,
        plan: Plan,
        rank: int,
        *,
        batch: int = 1,
        timeout: float = 60.0,
        link: LinkModel | None = None,
        pad: Mapping[int, float] | None = None,
        slots: int = SLOTS,
    ) -> None:
        graph, where = plan.graph, plan.placement
        self.slots = slots  # rank 0 may have up to this many inferences started (streaming)
        self.plan, self.rank, self.timeout = plan, rank, timeout
        self.pad = pad  # vertex -> emulated seconds (device emulation), or None
        self.overruns: set[int] = set()  # vertices whose real compute exceeded their pad
        self.trace: list[tuple[int, float, float]] = []  # last inference: (vertex, start, end)
        self.times: dict[str, float] = {}  # last inference: seconds per part (PARTS, total_s)
        self.started = 0.0  # perf_counter() when the last inference started
        self.wire = plan.wire_dtype
        self.mine = plan.vertices_of(rank)
        self.graph = graph
        self.output_rank = where[graph.output_vertex]
        self.inputs = {v: list(graph.inputs(v)) for v in self.mine}
        self.parts = graph.parts(self.mine, head=self.output_rank == rank)
        self.parts.load(plan.weights_for(self.parts))
        self.parts.eval()
        needed = {u for v in self.mine for u in self.inputs[v] if not plan.runs_on(u, rank)}
        self.remote = [
            RemoteInput(u, where[u], graph.message_shape(u))
            for u in graph.vertex_ids
            if u in needed
        ]
        replicated = plan.scatter == "image"
        self.sends = {
            v: []
            if replicated and v == graph.input_vertex  # every rank that needs the stem runs it
            else in_send_order({where[w] for w in graph.successors(v)} - {rank}, plan.send_order(v))
            for v in self.mine
        }
        self.free_after = _last_uses(self.mine, self.inputs, keep=graph.output_vertex)
        targets = {r for r in plan.stem_ranks if r != 0}  # ranks rank 0 sends the image to
        self.image_targets = in_send_order(targets, plan.send_order(graph.input_vertex))
        self.outbox = Outbox(rank, timeout, link)
        self.step = 0
        self._clock = _Clock()  # the current inference's
        self.set_batch(batch)

    def set_batch(self, batch: int) -> None:
        """Images per inference from the next ``infer`` on (every rank must do the same)."""
        if batch < 1:
            raise ConfigError(f"batch must be >= 1, got {batch}")
        self.batch = batch
        self.image_shape = (batch, *self.graph.input_shape)

    def infer(self, image: torch.Tensor | None = None) -> torch.Tensor | None:
        """Run one inference; rank 0 passes the image and gets the logits, others get None."""
        return self.finish(self.start(image))

    def finish(self, started: Started) -> torch.Tensor | None:
        """Rank 0: the logits of a started inference (waiting, bounded, for the output rank);
        other ranks: None. Inferences must be finished in the order they were started."""
        if started.receive is not None:
            logits = self._wait(*started.receive, self.output_rank, "the logits")
            self.times = self._clock.finish(self.started)  # the wait for the logits included
            return logits
        return started.logits

    def start(self, image: torch.Tensor | None = None) -> Started:
        """Run this rank's share of one inference. On rank 0 the logits may still be on their
        way: up to ``slots`` inferences can be started before the oldest is finished, so that
        the next image's first vertices overlap the previous one's last (streaming)."""
        step, self.step = self.step, self.step + 1
        if self.rank == 0 and (image is None or tuple(image.shape) != self.image_shape):
            got = None if image is None else tuple(image.shape)
            raise ConfigError(f"rank 0 needs an image of shape {self.image_shape}, got {got}")
        pending = {
            r.vertex: (buf, dist.irecv(buf, r.src, tag=vertex_tag(r.vertex, step, self.slots)))
            for r in self.remote
            for buf in [wire_buffer((self.batch, *r.shape), self.wire)]
        }
        logits_recv = None
        if self.rank == 0 and self.output_rank != 0:
            buf = torch.empty(self.batch, self.graph.num_classes)
            logits_recv = (buf, dist.irecv(buf, self.output_rank, tag=logits_tag(step, self.slots)))
        self.started = time.perf_counter()
        clock = self._clock = _Clock()
        image = self._image(image, step)
        outputs: dict[int, torch.Tensor] = {}
        trace = []
        with torch.inference_mode():
            for v in self.mine:
                args = [self._input(u, outputs, pending) for u in self.inputs[v]] or [image]
                start = time.perf_counter()
                out = self.parts.run(v, args)
                if self.pad is not None:
                    self._pad(v, start)
                end = time.perf_counter()
                trace.append((v, start, end))
                clock.spent["compute_s"] += end - start
                outputs[v] = out
                if self.sends[v]:
                    with clock("send_s"):
                        message = self.graph.pack(v, out, self.wire)
                        for dst in self.sends[v]:
                            tag = vertex_tag(v, step, self.slots)
                            self.outbox.send(message, dst, tag, f"the output of vertex {v}")
                for u in self.free_after[v]:
                    # a freed tensor's memory is reused while still in cache: keeping every
                    # output alive made a 26-vertex inference 1.8x slower
                    outputs.pop(u, None)
            logits = None
            if self.output_rank == self.rank:
                logits = self.parts.finish(outputs[self.graph.output_vertex])
                if self.rank != 0:
                    with clock("send_s"):
                        self.outbox.send(logits, 0, logits_tag(step, self.slots), "the logits")
        with clock("drain_s"):
            self.outbox.drain()
        self.trace = trace
        self.times = clock.finish(self.started)
        return Started(step, logits if self.rank == 0 else None, logits_recv)

    def _pad(self, v: int, start: float) -> None:
        """Device emulation: hold vertex ``v`` until its emulated duration has passed."""
        assert self.pad is not None
        if not wait_until(start + self.pad[v]):
            self.overruns.add(v)

    def _image(self, image: torch.Tensor | None, step: int) -> torch.Tensor | None:
        """The image on this rank if it runs the stem (rank 0 sends it to the others)."""
        tag = image_tag(step, self.slots)
        if self.rank == 0:
            assert image is not None
            if self.image_targets:
                with self._clock("send_s"):
                    message = to_wire(image, self.wire)
                    for r in self.image_targets:
                        self.outbox.send(message, r, tag, "the image")
            return image
        if self.rank in self.image_targets:
            buf = wire_buffer(self.image_shape, self.wire)
            work = dist.irecv(buf, 0, tag=tag)
            got = self._wait(buf, work, 0, "the image")
            with self._clock("recv_s"):
                return from_wire(got, self.image_shape, self.wire)
        return None

    def _input(
        self,
        u: int,
        outputs: dict[int, torch.Tensor],
        pending: dict[int, tuple[torch.Tensor, dist.Work]],
    ) -> torch.Tensor:
        """Output of vertex ``u``: computed here, or received (waiting at most ``timeout``)."""
        if u not in outputs:
            buf, work = pending.pop(u)
            src = self.plan.placement[u]
            got = self._wait(buf, work, src, f"the output of vertex {u}")
            with self._clock("recv_s"):
                outputs[u] = self.graph.unpack(u, got, self.batch, self.wire)
        return outputs[u]

    def _wait(self, buf: torch.Tensor, work: dist.Work, src: int, what: str) -> torch.Tensor:
        """Wait for a receive; a dead or stuck sender becomes a ``RuntimeTimeoutError``."""
        try:
            with self._clock("wait_s"):
                work.wait(timeout=timedelta(seconds=self.timeout))
        except RuntimeError as exc:
            raise RuntimeTimeoutError(
                f"rank {self.rank}: {what} from rank {src} did not arrive within "
                f"{self.timeout:g}s: rank {src} died, hangs or never joined ({_first_line(exc)})"
            ) from exc
        return buf

    def close(self) -> None:
        """Finish outstanding sends and stop the link emulation thread."""
        try:
            self.outbox.drain()
        finally:
            self.outbox.close()
