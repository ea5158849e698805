"""Replays: what every node held over a simulated run, recorded compactly and read back.

:class:`Recorder` is a simulation observer (``runtime.simulation.Observer``) that also takes
each node's ``show`` hook; at the end of a run :meth:`Recorder.result` packs every stream —
a partner's own tracks and the coordinator's picture as the partner held it, the
coordinator's fused picture — as columns: one row per track per cycle, integers quantised to
what the map shows (1e-5 deg, 1 m, 0.1 m/s, 0.1°), position and altitude delta-encoded along
each track, codes for class and affiliation. :func:`write_replay` adds the alerts each node
held (from the run's events) and the static map of each node, and saves one ``.npz`` per run
(``alliance``, ``national``) in ``DIR/replay/``. :class:`Replay` loads a folder of them and
answers "what did node N hold at time t" for the replay server.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from mead.errors import MeadError
from mead.events import AlertReceived, AlertSent, Event
from mead.messages import TRACK_CLASSES
from mead.runtime.node import Held
from mead.scenario.schema import Scenario
from mead.server.overlays import map_info
from mead.server.rows import AFFILIATIONS, Rows
from mead.server.view import picture_rows

FORMAT = 1
_SCALE = {"lat": 1e5, "lon": 1e5, "alt": 1.0, "crs": 10.0, "spd": 10.0, "vz": 10.0, "q": 100.0}
_DELTA = ("lat", "lon", "alt")  # delta-encoded along each track (they change slowly)
_CLASSES = (*TRACK_CLASSES,)


class _Stream:
    """Frames of one stream: a node's own tracks, or the picture it held. Own tracks are
    kept as states and turned into rows all at once when packed (one conversion of every
    frame costs far less than one per frame)."""

    def __init__(self) -> None:
        self.t: list[float] = []
        self.frames: list[Rows] = []
        self.states: list[tuple[list[str], np.ndarray, list[str], np.ndarray, np.ndarray]] = []

    def add(self, t: float, rows: Rows) -> None:
        self.t.append(t)
        self.frames.append(rows)

    def add_states(
        self, t: float, keys: list[str], x: np.ndarray, classes: list[str], quality: np.ndarray,
        ident: np.ndarray | None,
    ) -> None:  # fmt: skip
        """A frame of tracks as :meth:`Rows.from_states` takes them (copied)."""
        n = len(keys)
        self.t.append(t)
        self.states.append((
            list(keys), np.array(x, dtype=np.float64).reshape(n, 6), list(classes),
            np.array(quality, dtype=np.float64).reshape(n),
            np.full(n, "", dtype=object) if ident is None else np.array(ident, dtype=object),
        ))  # fmt: skip

    def rows(self) -> tuple[Rows, list[int]]:
        """Every frame's rows, one after the other, and the number of rows of each."""
        if not self.states:
            return _concat(self.frames), [len(f) for f in self.frames]
        assert not self.frames, "a stream holds rows or states, not both"
        keys = [k for f in self.states for k in f[0]]
        classes = [c for f in self.states for c in f[2]]
        x, q, ident = (np.concatenate([f[i] for f in self.states]) for i in (1, 3, 4))
        return Rows.from_states(keys, x, classes, q, ident), [len(f[0]) for f in self.states]

    def pack(self) -> dict[str, np.ndarray]:
        """The frames as columns: ``t`` (K,), ``n`` rows per frame (K,), ``keys`` (the key
        table) and per row: ``key`` index, quantised ints, class and affiliation codes."""
        rows, counts = self.rows()
        keys, key_idx = np.unique(rows.key.astype(str), return_inverse=True)
        out: dict[str, np.ndarray] = {
            "t": np.asarray(self.t, dtype=np.float64),
            "n": np.array(counts, dtype=np.int32),
            "keys": keys,
            "key": key_idx.astype(np.int32),
            "cls": _codes(rows.cls, _CLASSES),
            "aff": _codes(rows.aff, AFFILIATIONS),
        }
        for c, scale in _SCALE.items():
            v = np.round(getattr(rows, c) * scale).astype(np.int64)
            out[c] = _delta_encode(v, key_idx) if c in _DELTA else v
        for c in _SCALE:
            out[c] = _narrow(out[c])
        return out


def _concat(frames: list[Rows]) -> Rows:
    if not frames:
        return Rows.empty()
    cols = [np.concatenate([getattr(f, c) for f in frames]) for c in Rows.__dataclass_fields__]
    return Rows(*cols)


def _codes(values: np.ndarray, table: tuple[str, ...]) -> np.ndarray:
    lookup = {v: i for i, v in enumerate(table)}
    return np.fromiter((lookup.get(v, 0) for v in values.tolist()), np.uint8, len(values))


def _narrow(v: np.ndarray) -> np.ndarray:
    for dt in (np.int8, np.int16, np.int32):
        info = np.iinfo(dt)
        if not len(v) or (v.min() >= info.min and v.max() <= info.max):
            return v.astype(dt)
    return v


def _groups(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order that sorts rows by key, stably; mask of the first row of each key there)."""
    order = np.argsort(key, kind="stable")
    k = key[order]
    first = np.ones(len(k), dtype=bool)
    first[1:] = k[1:] != k[:-1]
    return order, first


def _delta_encode(v: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Each row's value minus the same track's previous value (its first: the value)."""
    order, first = _groups(key)
    s = v[order]
    d = np.diff(s, prepend=0)
    d[first] = s[first]
    out = np.empty_like(v)
    out[order] = d
    return out


def _delta_decode(d: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_delta_encode`: cumulative sums along each track."""
    order, first = _groups(key)
    s = d[order].astype(np.int64)
    cs = np.cumsum(s)
    starts = np.flatnonzero(first)
    base = np.where(starts > 0, cs[np.maximum(starts - 1, 0)], 0)
    lengths = np.diff(np.append(starts, len(s)))
    v = cs - np.repeat(base, lengths)
    out = np.empty_like(v)
    out[order] = v
    return out


class Recorder:
    """Records every node's ``show`` (see the module docstring); its observer call is a no-op."""

    def __init__(self, world: Any) -> None:
        self.scenario: Scenario = world.scenario
        self.streams: dict[str, _Stream] = {}
        self._picture_t: dict[str, float] = {}
        self._picture: tuple[float, Any, Rows] | None = None  # the last picture's rows

    def __call__(self, node: str, t_wire: float, ids: list[str], x: np.ndarray) -> None:
        return None

    def show(self, held: Held) -> None:
        coordinator = held.node == self.scenario.coordinator.name
        keys = [f"S{i}" for i in held.ids] if coordinator else held.ids
        self.streams.setdefault(f"{held.node}.own", _Stream()).add_states(
            held.t, keys, held.x, held.classes, held.quality, held.ident
        )
        pic = held.picture
        if pic is not None and pic.t != self._picture_t.get(held.node):
            self._picture_t[held.node] = pic.t
            last = self._picture  # the coordinator sends every partner the same tracks
            if last is None or last[0] != pic.t or last[1] != pic.tracks:
                last = self._picture = (pic.t, pic.tracks, picture_rows(pic))
            self.streams.setdefault(f"{held.node}.picture", _Stream()).add(held.t, last[2])

    def result(self) -> dict[str, np.ndarray]:
        return {f"{s}.{k}": v for s, st in self.streams.items() for k, v in st.pack().items()}


class _Tee:
    """An observer that is two: ``first`` (e.g. the scorer) and a :class:`Recorder`."""

    def __init__(self, first: Any, recorder: Recorder) -> None:
        self.first, self.recorder = first, recorder

    def __call__(self, node: str, t_wire: float, ids: list[str], x: np.ndarray) -> None:
        if self.first is not None:
            self.first(node, t_wire, ids, x)

    def show(self, held: Held) -> None:
        self.recorder.show(held)

    def result(self) -> tuple[Any, dict[str, np.ndarray]]:
        first = self.first.result() if self.first is not None else None
        return first, self.recorder.result()


def recording(factory: Callable[[Any], Any] | None) -> Callable[[Any], _Tee]:
    """An observer factory that records beside ``factory``'s observer; the run's
    ``observed`` becomes (``factory``'s result, the recording)."""

    def make(world: Any) -> _Tee:
        return _Tee(factory(world) if factory is not None else None, Recorder(world))

    return make


def _alert_records(events: list[Event], node: str) -> list[dict[str, Any]]:
    """The alerts ``node`` held, in the order it held them, as the map shows them."""
    out = []
    for ev in events:
        if isinstance(ev, AlertReceived | AlertSent) and ev.node == node:
            rec = msgspec.structs.asdict(ev)
            via = ev.via if isinstance(ev, AlertReceived) else ev.node
            at = ev.t_recv if isinstance(ev, AlertReceived) else ev.t
            own = via == node and isinstance(ev, AlertReceived)
            rec |= {"via": via, "at": at, "acked": None}
            rec["key"] = f"{node}-T{ev.system_track:06d}" if own else f"S{ev.system_track}"
            rec.pop("truth", None)
            rec.pop("run", None)
            out.append(rec)
    out.sort(key=lambda r: r["at"])
    return out


def write_replay(
    out_dir: Path,
    sc: Scenario,
    run: str,
    recorded: dict[str, np.ndarray],
    events: list[Event],
    layers: dict[str, list[Any]] | None = None,
) -> Path:
    """Save one run's recording with its alerts and maps as ``out_dir/replay/<run>.npz``
    (``layers``: each node's coverage layers, :func:`~mead.server.overlays.coverage_layers`)."""
    nodes = [sc.coordinator.name, *(p.name for p in sc.partners)]
    ts = [v for k, v in recorded.items() if k.endswith(".t") and len(v)]
    t0 = float(min(v[0] for v in ts)) if ts else sc.start_epoch_s()
    t1 = float(max(v[-1] for v in ts)) if ts else t0
    meta = {
        "format": FORMAT,
        "scenario": sc.name,
        "run": run,
        "nodes": nodes,
        "t0": t0,
        "t1": t1,
        "info": {n: map_info(sc, n, layers) for n in nodes},
        "alerts": {n: _alert_records(events, n) for n in nodes},
    }
    path = out_dir / "replay" / f"{run}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = np.frombuffer(json.dumps(meta, separators=(",", ":")).encode(), dtype=np.uint8)
    arrays: dict[str, Any] = {"meta": blob, **recorded}
    _savez_fast(path, arrays)
    return path


def _savez_fast(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed`` at zlib level 1: on the reference raid's 52 MB recording,
    2 s against 12 s for a file 10 % larger (``np.load`` reads it the same)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True, compresslevel=1) as z:
        for name, a in arrays.items():
            with z.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(a), allow_pickle=False)


@dataclass
class _Decoded:
    """One stream, decoded: frame times, row offsets and the rows."""

    t: np.ndarray  # (K,) wire s
    start: np.ndarray  # (K + 1,) row offsets
    rows: Rows


def _decode(z: Any, prefix: str) -> _Decoded:
    key = z[f"{prefix}.key"]
    keys = z[f"{prefix}.keys"].astype(object)
    cols: dict[str, np.ndarray] = {}
    for c, scale in _SCALE.items():
        v = z[f"{prefix}.{c}"].astype(np.int64)
        cols[c] = (_delta_decode(v, key) if c in _DELTA else v) / scale
    n = z[f"{prefix}.n"]
    rows = Rows(
        key=keys[key] if len(key) else np.empty(0, dtype=object),
        cls=np.array(_CLASSES, dtype=object)[z[f"{prefix}.cls"]],
        aff=np.array(AFFILIATIONS, dtype=object)[z[f"{prefix}.aff"]],
        **cols,
    )
    return _Decoded(z[f"{prefix}.t"], np.concatenate([[0], np.cumsum(n)]), rows)


class ReplayRun:
    """One recorded run (``alliance`` or ``national``), decoded in memory."""

    def __init__(self, path: Path) -> None:
        try:
            with np.load(path, allow_pickle=False) as z:
                self.meta: dict[str, Any] = json.loads(z["meta"].tobytes())
                prefixes = sorted({k.rsplit(".", 1)[0] for k in z.files if k.endswith(".t")})
                self.streams = {p: _decode(z, p) for p in prefixes}
        except (OSError, ValueError, KeyError) as e:
            raise MeadError(f"{path}: not a MEAD replay ({e})") from None
        if self.meta.get("format") != FORMAT:
            raise MeadError(f"{path}: replay format {self.meta.get('format')} (expected {FORMAT})")
        self.run: str = self.meta["run"]
        self.nodes: list[str] = self.meta["nodes"]
        self.t0: float = self.meta["t0"]
        self.t1: float = self.meta["t1"]
        self._alerts = {n: self.meta["alerts"][n] for n in self.nodes}
        self._alert_t = {n: np.array([a["at"] for a in v]) for n, v in self._alerts.items()}

    def rows(self, node: str, t: float) -> Rows:
        """Every track ``node`` held at ``t``: its newest frame of each stream."""
        out = Rows.empty()
        for stream in (f"{node}.own", f"{node}.picture"):
            s = self.streams.get(stream)
            if s is None or not len(s.t):
                continue
            k = int(np.searchsorted(s.t, t, side="right")) - 1
            if k >= 0:
                out = out.concat(s.rows.take(np.arange(s.start[k], s.start[k + 1])))
        return out

    def alerts(self, node: str, t: float, since: float | None = None) -> list[dict[str, Any]]:
        """The newest state of every alert ``node`` held at ``t`` (with ``since``: only
        those whose state changed after ``since``)."""
        recs = self._alerts[node]
        k = int(np.searchsorted(self._alert_t[node], t, side="right"))
        latest: dict[str, dict[str, Any]] = {}
        for r in recs[:k]:
            latest[r["alert_id"]] = r
        if since is None:
            return list(latest.values())
        return [r for r in latest.values() if r["at"] > since]

    def info(self, node: str) -> dict[str, Any]:
        info: dict[str, Any] = self.meta["info"][node]
        return info


class Replay:
    """Every run recorded in ``DIR/replay/`` (``mead run --out DIR``)."""

    def __init__(self, folder: Path) -> None:
        d = folder / "replay" if (folder / "replay").is_dir() else folder
        paths = sorted(d.glob("*.npz"))
        if not paths:
            raise MeadError(
                f"{folder}: no recorded runs (expected {folder}/replay/*.npz, written by "
                "`mead run SCENARIO --out DIR`)"
            )
        self.runs = {r.run: r for r in (ReplayRun(p) for p in paths)}
        self.scenario: str = next(iter(self.runs.values())).meta["scenario"]

    def run(self, name: str) -> ReplayRun:
        if name not in self.runs:
            raise KeyError(f"no run {name!r} (recorded: {', '.join(self.runs)})")
        return self.runs[name]


__all__ = ["Recorder", "Replay", "ReplayRun", "recording", "write_replay"]
