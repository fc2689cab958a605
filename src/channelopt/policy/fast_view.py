"""The fast path's per-store and per-model constants, built once and cached (see :mod:`channelopt.policy.fast`).

:class:`StoreView` holds a store's arrays as the kernels of
:mod:`channelopt.kernels.single` take them: tuples of typed, C-contiguous
arrays (views of the store's own, no copy, no address). :class:`ModelView`
holds a model's channel masks, consent sets and, per policy, the kernel's
configuration array. :func:`call` finds a kernel's compiled entry point once
its (fixed) signature is known.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import typeof

from channelopt.kernels.single import choose_config
from channelopt.policy.contact import ContactPolicy, channel_bits, policy_rules
from channelopt.policy.slots import _QUARTER_NS
from channelopt.state.history import HISTORY_EMPTY

__all__ = ["ModelView", "StoreView", "call", "model_view", "store_view"]

_DEFAULT_DEADLINE_NS = 24 * 3600 * 10**9
_LIST_TYPES = (list, tuple, set, frozenset)
_CACHE_MAX = 256


def _read_only(arr: np.ndarray) -> np.ndarray:
    """A read-only base-class view of ``arr`` (no copy): every store gives the kernels one array type."""
    view = arr.view(np.ndarray)
    view.flags.writeable = False
    return view


class StoreView:
    """A store as the kernels take it (built once per store object, kept in the store's ``__dict__``).

    ``ids`` is ``(sorted hashes, order, id offsets, id bytes, zone codes)`` for
    :func:`~channelopt.kernels.single.locate_one`; ``arrays`` is ``(sends,
    responses, prior tables [2, n_groups, n_arms], segment, consent,
    unsubscribed, last complaint)`` and ``hist`` the send history ``(minutes,
    channels)`` for :func:`~channelopt.kernels.single.choose_one`; ``empty`` a
    one-row empty history (unknown customers). No copy but the prior tables (a
    few rows, writable as the general path's). Every store array is a read-only
    view, so that fitted and memory-mapped stores share one signature of each
    kernel (a service's first call after ``load`` finds it compiled). Every array
    must be C-contiguous with the expected dtype and shape; else ``ok`` is False
    and the general path runs. ``locate_fn`` and
    ``choose_fn`` are the kernels' compiled entry points for these types, once
    known (:func:`call`). The view holds no reference to the store.

    Examples
    --------
    >>> import pandas as pd, channelopt as co
    >>> logs = pd.DataFrame({"customer_id": ["a"], "sent_at": ["2026-01-01"], "channel": ["sms"],
    ...                      "responded_at": [None]})
    >>> view = StoreView(co.ChannelModel(co.ArmSpace(channels=["email", "sms"])).fit(logs).state_)
    >>> view.ok, view.kind, view.arrays[0].flags.writeable
    (True, 'str', False)
    """

    def __init__(self, st: Any) -> None:
        idx = st.index
        self.kind = idx.kind
        self.locate_fn: Any = None
        self.choose_fn: Any = None
        tables = getattr(st, "prior_tables", None)
        if tables is None:  # a store without segment priors: one group, the population
            tables = tuple(np.asarray(p, dtype=np.float64)[None, :] for p in (st.prior_alpha, st.prior_beta))
        prior = np.ascontiguousarray(np.stack(tables))  # its own copy, writable as the general path's prior rows
        segment = getattr(st, "segment", None)
        if segment is None:
            segment = np.full(st.sends.shape[0], -1, np.int16)
        self.segment_code = {name: i for i, name in enumerate(getattr(st, "segments", ()))}
        self.zones = tuple(st.zones)
        n = len(idx)
        n_arms = st.sends.shape[1] if st.sends.ndim == 2 else -1
        n_hist = st.history_min.shape[-1]
        checks = [(st.sends, np.float32, (n, n_arms)), (st.responses, np.float32, (n, n_arms)),
                  (prior, np.float64, (2, prior.shape[1], n_arms)), (segment, np.int16, (n,)),
                  (st.consent, np.uint32, (n,)), (st.unsubscribed, np.uint32, (n,)),
                  (st.last_complaint_min, np.int32, (n,)), (st.history_min, np.int32, (n, n_hist)),
                  (st.history_channel, np.int8, (n, n_hist)), (idx.sorted_hashes, np.uint64, (n,)),
                  (idx.order, np.int32, (n,)), (idx.offsets, np.int64, (n + 1,)),
                  (idx.data, np.uint8, (getattr(idx.data, "shape", (0,))[0],)), (st.zone, np.uint16, (n,))]
        self.ok = all(isinstance(arr, np.ndarray) and arr.dtype == dt and arr.flags.c_contiguous
                      and arr.shape == shape for arr, dt, shape in checks)
        if not self.ok:
            return
        ro = [_read_only(arr) if k != 2 else arr for k, (arr, _, _) in enumerate(checks)]
        self.arrays = tuple(ro[:7])
        self.hist = (ro[7], ro[8])
        self.ids = tuple(ro[9:])
        self.consent, self.unsub = ro[4], ro[5]
        self.empty = (_read_only(np.full((1, n_hist), HISTORY_EMPTY, np.int32)),
                      _read_only(np.zeros((1, n_hist), np.int8)))


def store_view(st: Any) -> StoreView:
    """The store's :class:`StoreView` (built on first use)."""
    view = st.__dict__.get("_single_view")
    if view is None:
        view = StoreView(st)
        st.__dict__["_single_view"] = view  # a frozen dataclass: bypass its __setattr__, as cached_property does
    return view


def _type_key(value: Any) -> Any:
    """What numba's ``typeof`` reads of a fast-path argument, cheaply: an array's class, dtype, rank,
    layout, writeability and alignment; a tuple's items; a scalar's class."""
    if isinstance(value, np.ndarray):
        flags = value.flags
        return (type(value), value.dtype.num, value.ndim, flags.c_contiguous, flags.writeable, flags.aligned)
    if type(value) is tuple:
        return tuple(_type_key(v) for v in value)
    return type(value)


#: compiled entry points by (kernel, argument type key), shared by every store whose arguments have those types
_ENTRIES: dict[tuple[Any, Any], Any] = {}


def call(kernel: Any, args: tuple) -> tuple[Any, Any]:
    """``(kernel(*args), entry)``: the call through the dispatcher, and the compiled entry point of this
    signature for the next calls.

    The arguments of a fast-path call have fixed types for a given store (bytes,
    Python ints, floats and bools, tuples of arrays, arrays of fixed dtype, layout
    and writeability), so the dispatcher's type resolution (~1 us for 20
    arguments) is done once per store and later calls go straight to the
    compiled function (the same machine code; numba's ``Dispatcher.overloads``).
    The entry point is found once per process and signature (``numba.typeof`` of
    20 arguments takes ~0.5 ms) and remembered under a cheap key of the argument
    types, so a store loaded later calls it at once, without the dispatcher.
    ``entry`` is the dispatcher itself when the entry point cannot be found.
    """
    key = (kernel, _type_key(args))
    fn = _ENTRIES.get(key)
    if fn is not None:
        return fn(*args), fn
    result = kernel(*args)
    fn = kernel
    try:
        cres = kernel.overloads.get(tuple(typeof(a) for a in args))
        if cres is not None and callable(getattr(cres, "entry_point", None)):
            fn = cres.entry_point
    except Exception:  # noqa: BLE001 -- numba internals changed: keep the dispatcher
        fn = kernel
    if len(_ENTRIES) < _CACHE_MAX:
        _ENTRIES[key] = fn
    return result, fn


class ModelView:
    """A model's constants and caches (built once per model and config, kept in the model's ``__dict__``)."""

    def __init__(self, model: Any) -> None:
        cfg = model.config
        space = model.space
        self.config = cfg
        self.space = space
        self.channels = tuple(space.channels)
        self.n_ch = len(self.channels)
        self.all_bits = (1 << self.n_ch) - 1
        self.offsets = np.ascontiguousarray(space.offsets, dtype=np.int64)
        self.n_arms = int(self.offsets[-1])
        self.n_dims = self.offsets.shape[0] - 1
        dims = list(space.dimensions)
        self.hour_dim = dims.index("hour") if "hour" in dims else -1
        self.wd_dim = dims.index("weekday") if "weekday" in dims else -1
        self.wording_dim = dims.index("wording") if "wording" in dims else -1
        self.extra_dims = [(k, dims.index(k)) for k in space.extra]
        self.labels = [list(space.labels(d)) for d in dims]
        self.smooth = np.ascontiguousarray(model._smooth, dtype=np.float64)
        self.seed = np.uint64(cfg.seed)
        self.n_prop = int(cfg.propensity_draws)
        self.out = (self.n_dims, self.n_arms, space, self.labels, self.wording_dim, self.hour_dim, self.extra_dims)
        self.default_tz = cfg.default_tz
        self.pos = {c: i for i, c in enumerate(self.channels)}
        self.masks: dict[Any, int] = {}
        self.policies: dict[int, tuple[Any, np.ndarray, int, int, float]] = {}
        self.consents: dict[Any, int] = {}
        self.no_policy = self._conf(None)[1:]

    def mask(self, allowed: Any, exclude: Any) -> int | None:
        """Bits of the channels a call allows (``ChannelModel._mask``); None for an unusual argument."""
        if allowed is None and not exclude:
            return self.all_bits
        key = []
        for value in (allowed, exclude):
            if value is None or isinstance(value, str):
                key.append(value)
            elif isinstance(value, _LIST_TYPES):
                key.append(tuple(value))
            else:
                return None
        k = tuple(key)
        try:
            hit = self.masks.get(k)
        except TypeError:  # unhashable names: the general path says what is wrong
            return None
        if hit is not None:
            return hit
        bits = 0 if allowed is not None else self.all_bits
        for value, on in ((allowed, True), (exclude, False)):
            if value is None:
                continue
            for c in ([value] if isinstance(value, str) else value):
                pos = self.pos.get(c) if isinstance(c, str) else None
                if pos is None:
                    return None
                bits = bits | (1 << pos) if on else bits & ~(1 << pos)
        if len(self.masks) >= _CACHE_MAX:
            self.masks.clear()
        self.masks[k] = bits
        return bits

    def consent_bits(self, consent: Any) -> int | None:
        """Bits of a ``consent=`` argument; None for an unusual one."""
        if not isinstance(consent, (str,) + _LIST_TYPES):
            return None
        key = consent if isinstance(consent, str) else tuple(consent)
        try:
            hit = self.consents.get(key)
        except TypeError:
            return None
        if hit is None:
            try:
                hit = channel_bits(self.channels, list(key) if isinstance(key, tuple) else key)
            except (ValueError, TypeError):
                return None
            if len(self.consents) >= _CACHE_MAX:
                self.consents.clear()
            self.consents[key] = hit
        return hit

    def policy(self, policy: ContactPolicy) -> tuple[Any, np.ndarray, int, int, float] | None:
        """:meth:`_conf` of a policy, cached per policy object; None when it is not a usable ContactPolicy."""
        hit = self.policies.get(id(policy))
        if hit is not None and hit[0] is policy:
            return hit
        if not isinstance(policy, ContactPolicy):
            return None
        try:
            policy.check_channels(self.channels)
        except ValueError:
            return None
        hit = self._conf(policy)
        if len(self.policies) >= 16:
            self.policies.clear()
        self.policies[id(policy)] = hit  # holds the policy: its id stays unique
        return hit

    def _conf(self, policy: ContactPolicy | None) -> tuple[Any, np.ndarray, int, int, float]:
        """``(policy, conf, span, span_q, value)``: the kernel's configuration array
        (:func:`~channelopt.kernels.single.choose_config`, with the rules of
        :func:`~channelopt.policy.contact.policy_rules`), the default delivery window (ns, and in
        quarter hours when it is a whole number of them, else -1) and the value of a response."""
        if policy is None:
            quiet = [0] * self.n_ch
            cost = [0.0] * self.n_ch
            span = _DEFAULT_DEADLINE_NS
            value = float("nan")
        else:
            quiet = [policy.quiet_mask(c) for c in self.channels]
            cost = [float(policy.cost.get(c, 0.0)) for c in self.channels]
            span = int(policy.deadline.value)
            value = float("nan") if policy.value is None else float(policy.value)
        conf = choose_config(self.hour_dim, self.wd_dim, self.offsets, self.seed, self.n_prop, quiet,
                             policy_rules(policy, self.channels), cost, self.smooth)
        span_q = span // _QUARTER_NS if span % _QUARTER_NS == 0 else -1
        return policy, conf, span, span_q, value


def model_view(model: Any) -> ModelView:
    """The model's :class:`ModelView` (rebuilt when its config changes)."""
    view = model.__dict__.get("_single_view")
    if view is None or view.config is not model.config:
        view = ModelView(model)
        model.__dict__["_single_view"] = view
    return view
