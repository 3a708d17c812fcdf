"""Read mpisnap checkpoints as consistent global states, with h5py and numpy only.

    import mpisnap
    g = mpisnap.open("ckpts")                  # the newest committed checkpoint (or id=N)
    g.nranks, g.checkpoint_id, g.safe_point
    s = g.state(2)                             # rank 2's state: the names its serialize() used
    s["balance"], s["grid"]                    # numbers, numpy arrays, str, nested dicts, lists
    field = g.assemble("u")                    # the blocks of every rank put together (array_view's global())
    for m in g.messages:                       # the channel state: messages in flight at the cut
        m.comm, m.source, m.source_world, m.dest, m.tag, m.payload
        m.as_("<i8")                           # the payload as the sender's datatype (numpy dtype)

A state maps to Python as the files store it (README, "Files"): a named value or array is a numpy
scalar or array of its shape (booleans as bool, complex numbers as complex), a string is a str and a
list of strings a list of str, a struct is a dict of its members, a vector of plain structs (a
table) is a numpy structured array, a map is a dict, another container (a group with a size) is a
list. Only committed checkpoints (those with a manifest) are opened. This module does not check the
files' checksums: `mpisnap verify DIR` does.
"""
import os

import h5py
import numpy as np

__all__ = ["checkpoints", "open", "GlobalState", "Message", "MpisnapError"]

_SIZE_ATTR = "mpisnap_size"
_TYPE_ATTR = "mpisnap_type"
_LENGTH_ATTR = "mpisnap_length"
_FIELDS_ATTR = "mpisnap_fields"  # a table's char (and, before format 1.3, bool) members ("name<TAB>type" lines)
_ROLE_ATTR = "mpisnap_role"  # "map": a group of two columns, keys and values


class MpisnapError(Exception):
    """A checkpoint that cannot be read: the message names the directory or file and the reason."""


def _checkpoint_dirs(directory):
    out = []
    if not os.path.isdir(directory):
        return out
    for name in os.listdir(directory):
        if not name.startswith("ckpt-"):
            continue
        try:
            cid = int(name[5:])
        except ValueError:
            continue
        out.append((cid, os.path.join(directory, name)))
    return sorted(out)


def checkpoints(directory):
    """Ids of the committed checkpoints in `directory`, ascending."""
    return [cid for cid, path in _checkpoint_dirs(directory) if os.path.exists(os.path.join(path, "manifest.h5"))]


def open(directory, id=None):  # noqa: A001 - mpisnap.open reads like h5py.File
    """The committed checkpoint `id` of `directory` (the newest when None) as a GlobalState."""
    return GlobalState(directory, id)


def _scalar(v):
    return v.item() if isinstance(v, np.generic) else v


def _leaf(ds):
    kind = ds.attrs.get(_TYPE_ATTR)
    if isinstance(kind, bytes):
        kind = kind.decode()
    if h5py.check_string_dtype(ds.dtype) is not None and ds.dtype.kind == "O":  # a list of strings
        return [bytes(v).decode("utf-8", errors="surrogateescape") for v in ds[()]]
    if ds.dtype.kind == "S":  # a string: HDF5 fixed-length, its true length in an attribute
        n = int(ds.attrs.get(_LENGTH_ATTR, 0))
        return bytes(ds[()])[:n].decode("utf-8", errors="surrogateescape")
    value = ds[()]
    if ds.dtype.names:  # a table (a vector of plain structs): a numpy structured array
        fields = ds.attrs.get(_FIELDS_ATTR, b"")
        fields = fields.decode() if isinstance(fields, bytes) else str(fields)
        bools = {line.split("\t")[0] for line in fields.splitlines() if line.endswith("\tbool")}
        if bools:  # stored as uint8 before format 1.3 (now an enum h5py reads as bool): give them back as bool
            dtype = np.dtype({"names": list(ds.dtype.names),
                              "formats": [np.dtype((bool, ds.dtype[n].shape)) if n in bools else ds.dtype[n]
                                          for n in ds.dtype.names],
                              "offsets": [ds.dtype.fields[n][1] for n in ds.dtype.names],
                              "itemsize": ds.dtype.itemsize})
            value = value.view(dtype)
        return np.asarray(value)
    if kind == "bool":
        return bool(value) if np.ndim(value) == 0 else np.asarray(value, dtype=bool)
    if kind == "char":
        return chr(int(value) & 0xFF)
    return _scalar(value) if np.ndim(value) == 0 else np.asarray(value)


def _items(column):
    """A map's column as a list of Python values."""
    if isinstance(column, np.ndarray):
        return [_scalar(v) for v in column] if column.dtype.names is None and column.ndim == 1 else list(column)
    return list(column)


def _node(obj):
    if isinstance(obj, h5py.Dataset):
        return _leaf(obj)
    role = obj.attrs.get(_ROLE_ATTR)
    if (role.decode() if isinstance(role, bytes) else role) == "map":
        return dict(zip(_items(_node(obj["keys"])), _items(_node(obj["values"]))))
    names = list(obj.keys())  # creation order: the files track it
    if _SIZE_ATTR in obj.attrs and all(n == f"value{i}" for i, n in enumerate(names)):
        return [_node(obj[n]) for n in names]
    return {n: _node(obj[n]) for n in names}


class Message:
    """One message in flight across the cut (recorded by its receiver, in delivery order)."""

    __slots__ = ("comm", "source", "source_world", "dest", "tag", "payload")

    def __init__(self, comm, source, source_world, dest, tag, payload):
        self.comm, self.source, self.source_world = comm, source, source_world
        self.dest, self.tag, self.payload = dest, tag, payload

    def as_(self, dtype):
        """The payload as values of `dtype` (the sender's datatype, e.g. "<i8" or a structured dtype)."""
        dtype = np.dtype(dtype)
        if len(self.payload) % dtype.itemsize:
            raise MpisnapError(f"a message of {len(self.payload)} bytes from rank {self.source_world} to rank "
                               f"{self.dest} (tag {self.tag}) is not a whole number of {dtype} values")
        return np.frombuffer(self.payload, dtype=dtype)

    def __repr__(self):
        return (f"Message(comm={self.comm}, source={self.source}, source_world={self.source_world}, "
                f"dest={self.dest}, tag={self.tag}, {len(self.payload)} bytes)")


class GlobalState:
    """A committed checkpoint: every rank's state and the messages in flight across the cut."""

    def __init__(self, directory, id=None):
        ids = checkpoints(directory)
        if id is None:
            if not ids:
                raise MpisnapError(f"no committed checkpoint in {directory}")
            id = ids[-1]
        self.directory = directory
        self.path = os.path.join(directory, f"ckpt-{int(id):08d}")
        if int(id) not in ids:
            raise MpisnapError(f"checkpoint {id} in {directory} is not committed (no {self.path}/manifest.h5)")
        try:
            with h5py.File(os.path.join(self.path, "manifest.h5"), "r") as m:
                c = m["checkpoint"]
                self.checkpoint_id = int(c["checkpoint_id"][()])
                self.safe_point = int(c["safe_point"][()])
                self.nranks = int(c["nranks"][()])
                prog = c["program"][()] if "program" in c else b""
                self.program = (bytes(prog).rstrip(b"\0").decode() if isinstance(prog, (bytes, np.bytes_))
                                else str(prog))
        except (OSError, KeyError) as e:
            raise MpisnapError(f"{self.path}/manifest.h5: {e}") from None
        self._states = {}
        self._members = {}
        self.messages = []
        for r in range(self.nranks):
            self.messages.extend(self._read_channel(r))

    def _file(self, rank):
        path = os.path.join(self.path, f"rank-{rank:06d}.h5")
        try:
            return h5py.File(path, "r")
        except OSError as e:
            raise MpisnapError(f"{path}: {e}") from None

    def _read_channel(self, rank):
        with self._file(rank) as f:
            counters = f["counters"]
            if "comms" in counters:  # format 1.5 on: a record per communicator, its members concatenated
                comms = counters["comms"][()]
                world = counters["world_ranks"][()]
                offset = 0
                for cid, n in zip(comms["id"], comms["members"]):
                    self._members.setdefault(int(cid), [int(x) for x in world[offset:offset + int(n)]])
                    offset += int(n)
            else:  # 1.0-1.4: a group per communicator
                for name, g in counters.items():
                    cid = int(name[5:])
                    self._members.setdefault(cid, [int(x) for x in g["world_ranks"][()]])
            ch = f["channel"]
            if "messages" in ch:  # format 1.6: one record per message
                m = ch["messages"][()]
                comm, source, tag, length = m["comm"], m["source"], m["tag"], m["length"]
            else:  # 1.0-1.5: an array per field
                comm, source, tag = ch["comm"][()], ch["source"][()], ch["tag"][()]
                length = ch["length"][()]
            payload = ch["payload"][()].tobytes() if len(length) else b""
        out, offset = [], 0
        for c, s, t, n in zip(comm, source, tag, length):
            c, s, n = int(c), int(s), int(n)
            members = self._members.get(c, [])
            world = members[s] if 0 <= s < len(members) else -1
            out.append(Message(c, s, world, rank, int(t), payload[offset:offset + n]))
            offset += n
        return out

    def state(self, rank):
        """Rank `rank`'s state, as dicts, lists, numbers, strings and numpy arrays by its names."""
        if not 0 <= rank < self.nranks:
            raise MpisnapError(f"checkpoint {self.checkpoint_id} has ranks 0..{self.nranks - 1}, not {rank}")
        if rank not in self._states:
            with self._file(rank) as f:
                self._states[rank] = _node(f["state"])
        return self._states[rank]

    def assemble(self, path):
        """The global array whose blocks the ranks saved at `path` (below the state, e.g. "u" or
        "grid/u") with their place in it (mpisnap::array_view's global()): one numpy array of the
        global extent, each rank's block copied to its offset. Parts no rank covers are zero."""
        out = None
        for r in range(self.nranks):
            with self._file(r) as f:
                key = "state/" + path.strip("/")
                if key not in f or not isinstance(f[key], h5py.Dataset):
                    raise MpisnapError(f"rank {r} of checkpoint {self.checkpoint_id} has no dataset state/{path}")
                ds = f[key]
                if "global_offset" not in ds.attrs or "global_extent" not in ds.attrs:
                    raise MpisnapError(f"rank {r}'s state/{path} has no global_offset/global_extent "
                                       f"(save it through mpisnap::array_view(...).global(offset, extent))")
                offset = [int(x) for x in ds.attrs["global_offset"]]
                extent = tuple(int(x) for x in ds.attrs["global_extent"])
                block = ds[()]
                if out is None:
                    out = np.zeros(extent, dtype=block.dtype)
                elif out.shape != extent or out.dtype != block.dtype:
                    raise MpisnapError(f"rank {r}'s state/{path} is part of a {extent} {block.dtype} array, "
                                       f"rank 0's of a {out.shape} {out.dtype} one")
                out[tuple(slice(o, o + n) for o, n in zip(offset, block.shape))] = block
        return out

    def states(self):
        """Every rank's state, by rank."""
        return [self.state(r) for r in range(self.nranks)]

    def messages_to(self, rank):
        """The messages in flight to `rank`, in the order it would have received them."""
        return [m for m in self.messages if m.dest == rank]

    def comm_members(self, comm):
        """World ranks of communicator `comm`'s members (0 is MPI_COMM_WORLD)."""
        return list(self._members.get(comm, []))

    def __repr__(self):
        return (f"GlobalState({self.path!r}: checkpoint {self.checkpoint_id}, safe point {self.safe_point}, "
                f"{self.nranks} ranks, {len(self.messages)} message(s) in flight)")
