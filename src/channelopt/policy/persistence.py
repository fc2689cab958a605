"""Saving and loading a ChannelModel: arrays and manifest through :mod:`channelopt.state.persist`,
the contact store beside the model directory."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from channelopt._version import __version__
from channelopt.core.config import ModelConfig
from channelopt.core.prior import declared_prior, prior_from_json, prior_to_json
from channelopt.core.values import short
from channelopt.data.tz import NAT
from channelopt.policy.contact import ContactPolicy
from channelopt.state.contact_state import drop_customers
from channelopt.state.contact_store import FILE_NAME as CONTACTS_FILE
from channelopt.state.contact_store import ContactStore
from channelopt.state.ledger import apply_events
from channelopt.state.persist import MANIFEST, version_directory
from channelopt.state.store import PosteriorStore

__all__ = ["PersistenceMixin"]

def _default_contacts(path: Path) -> Path:
    """A model directory's contact store: the file beside it, ``<dir>.contacts.sqlite``."""
    path = Path(path)
    return path.parent / f"{path.name}.{CONTACTS_FILE}"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _contacts_entry(path: Any, entry: Any) -> tuple[Path, str | None, int]:
    """The manifest's ``contacts`` entry checked: ``(database path, store id, contact watermark)``."""
    where = f"{version_directory(path) / MANIFEST}: field 'contacts'"
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be an object, got {type(entry).__name__}")
    file, store_id, seq = entry.get("file"), entry.get("store_id"), entry.get("seq")
    if not isinstance(file, str) or not (file == CONTACTS_FILE or os.path.isabs(file)):
        raise ValueError(f"{where}.file must be {CONTACTS_FILE!r} or an absolute path, got {short(file)}")
    if store_id is not None and not isinstance(store_id, str):
        raise ValueError(f"{where}.store_id must be text, got {short(store_id)}")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise ValueError(f"{where}.seq must be a whole number >= 0, got {short(seq)}")
    return (_default_contacts(Path(path)) if file == CONTACTS_FILE else Path(file)), store_id, seq


def _prior_from(data: Any, path: Any, store: PosteriorStore) -> dict[str, Any] | None:
    """The manifest's ``prior`` (the model's ``prior=``, as :class:`channelopt.Prior` values), checked."""
    try:
        prior = prior_from_json(data)
        declared_prior(prior, store.space)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{version_directory(path) / MANIFEST}: field 'prior' is not a prior "
                         f"({short(str(exc))})") from None
    return prior


def _policy_from(data: Any, path: Any) -> ContactPolicy | None:
    if data is None:
        return None
    try:
        return ContactPolicy.from_dict(data)
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"{version_directory(path) / MANIFEST}: field 'policy' is not a contact policy "
                         f"({short(str(exc))})") from None


class PersistenceMixin:
    """Save and load (mixed into :class:`~channelopt.ChannelModel`)."""

    def save(self, path: Any, *, key: bytes | str | None = None) -> None:
        """Save to directory ``path`` atomically: a new version of ``.npy`` arrays plus ``manifest.json``.

        ``path`` always holds a complete model: the new version is written beside
        the live one and a pointer file is replaced in one atomic rename (see
        :mod:`channelopt.state.persist`); leftovers of saves that were killed are
        removed by the next save or load. The manifest carries a SHA-256 of
        itself; give ``key`` (bytes or text kept secret) to add an HMAC, which
        :func:`load` with the same key then requires: a file that a third party
        changed (and re-checksummed) is refused.

        A model that was never fitted saves too: its ``prior`` and no customer,
        the contact events recorded so far staying in its contact store;
        :func:`load` gives back an unfitted model that makes the same decisions.

        Examples
        --------
        >>> import channelopt as co
        >>> import tempfile, os
        >>> space = co.ArmSpace(channels=["email", "sms"])
        >>> logs = pd.DataFrame({"customer_id": ["a"], "sent_at": ["2026-01-01"], "channel": ["sms"],
        ...                      "responded_at": [None]})
        >>> m = co.ChannelModel(space).fit(logs, as_of="2026-01-10")
        >>> d = os.path.join(tempfile.mkdtemp(), "model"); m.save(d)
        >>> co.load(d).state_.n_customers
        1
        """
        path = Path(path)
        cs = self._contacts
        with self._lock:
            explicit = self.contact_store is not None
            target_path = Path(self.contact_store) if explicit else _default_contacts(path)
            with cs.write_lock:
                here = cs.db is not None and cs.db.path is not None and _same_file(cs.db.path, target_path)
                if explicit or here:
                    db = cs.store_db()
                    snap, events, reach = cs.pending()
                else:  # into another directory: that directory's store gets every event, and its own are folded in
                    path.parent.mkdir(parents=True, exist_ok=True)
                    db = ContactStore(target_path, self.space.channels)
                    snap, _, _ = cs.pending()
                    own = cs.store_db()
                    db.merge_from(own)
                    events = db.events_not_in(own.uids_through(snap.folded))
                    reach = db.max_seq()
                fitted = snap.store is not None
                if fitted:
                    st = apply_events(snap.store, events)
                    tombs = db.tombstones()
                    if tombs:  # customers forgotten by another process since this one loaded the model
                        gone = db.forgotten(list(st.index.ids()), tombs) > np.iinfo(np.int64).min
                        st = drop_customers(st, ~gone)
                else:  # never fitted: the cold store, no event folded in (a load reads them all from the contact store)
                    st, reach = self._cold, 0
                contacts = {"file": str(target_path.resolve()) if explicit else CONTACTS_FILE,
                            "store_id": db.store_id, "seq": int(reach)}
                st.save(path, {"library_version": __version__, "config": self.config.to_dict(),
                               "policy": None if self.policy is None else self.policy.to_dict(),
                               "last_fit": dict(getattr(self, "last_fit_", {})), "contacts": contacts,
                               "prior": prior_to_json(self.prior)}, key=key)
                if not (explicit or here):
                    cs.attach(db, st if fitted else None, int(reach))  # the directory's contact store is the model's

    @classmethod
    def load(cls, path: Any, *, verify: bool = True, key: bytes | str | None = None) -> Self:
        """Deprecated: the one spelling is :func:`channelopt.load` (the same arguments and result).

        Examples
        --------
        >>> import channelopt as co, warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     try:
        ...         co.ChannelModel.load("no/such/dir")
        ...     except ValueError:
        ...         pass
        >>> caught[0].category.__name__
        'FutureWarning'
        """
        warnings.warn("ChannelModel.load(path) is deprecated: use channelopt.load(path); ChannelModel.load will be "
                      "removed in channelopt 0.3", FutureWarning, stacklevel=2)
        return cls._load(path, verify=verify, key=key)

    @classmethod
    def _load(cls, path: Any, *, verify: bool = True, key: bytes | str | None = None) -> Self:
        """Load a model saved with :meth:`save` (see :func:`channelopt.load`)."""
        store, manifest = PosteriorStore.load(path, verify=verify, key=key)
        try:
            config = ModelConfig.from_dict(manifest["config"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{version_directory(path) / MANIFEST}: field 'config' is not a model "
                             f"configuration ({short(str(exc))})") from None
        contacts = manifest.get("contacts", {"file": CONTACTS_FILE, "store_id": None, "seq": 0})
        db_path, store_id, folded = _contacts_entry(path, contacts)
        model = cls(store.space, response_window=config.response_window, half_life=config.half_life,
                    seed=config.seed, default_tz=config.default_tz,
                    prior_max_strength=config.prior_max_strength, prior_sample=config.prior_sample,
                    hour_smoothing=config.hour_smoothing, inbound_weight=config.inbound_weight,
                    resolve=config.resolve, policy=_policy_from(manifest.get("policy"), path),
                    prior=_prior_from(manifest.get("prior"), path, store),
                    contact_store=None if contacts.get("file") == CONTACTS_FILE else db_path)
        try:
            db = ContactStore(db_path, store.space.channels)
        except ValueError:
            if db_path.exists() or os.access(db_path.parent, os.W_OK):
                raise
            warnings.warn(f"{db_path}: cannot create the contact store in a read-only directory; consent "
                          "recorded with this model stays in memory (pass contact_store= to keep it)",
                          stacklevel=2)
            db = ContactStore(None, store.space.channels)
        # a store that is not the one the model was saved with: none of its events are folded in yet
        fitted = store.watermark_ns != NAT or store.n_customers > 0  # else saved before any fit: unfitted again
        model._contacts.attach(db, store if fitted else None, folded if db.store_id == store_id and fitted else 0)
        if fitted:
            model.as_of_ = pd.Timestamp(store.watermark_ns, tz="UTC") if store.watermark_ns != NAT else None
            model.last_fit_ = dict(manifest.get("last_fit", {}))
        return model
