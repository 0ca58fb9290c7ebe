"""The one error hierarchy of driftline.

Every error says what was found, what was expected, and what to do about it: ``str(err)`` is the
one-line message the CLI prints. Adapters re-raise foreign errors ``from exc`` naming the file,
table or model involved. Security failures (:class:`IntegrityError` and its subclasses) are kept
apart from ordinary input errors so that they can never pass as a generic failure. Drift and a
rejected gate are results, not errors, and have no class here.
"""

from __future__ import annotations


class DriftlineError(Exception):
    """Base of every error driftline raises on purpose.

    ``hint`` is the "what to do" part; it is appended to the message so that a caller who only
    prints ``str(err)`` still tells the user how to recover.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} ({hint})" if hint else message)


class ConfigError(DriftlineError):
    """A setting is missing or malformed."""


class InputError(DriftlineError):
    """The user named something that is not there or cannot be read (a file, a flow, an option)."""


class NotFoundError(InputError):
    """An unknown model, version, alias, feature group or key."""


class ContractError(DriftlineError):
    """A feature-group contract is malformed, or a change to it would break stored data."""


class IngestError(DriftlineError):
    """A drop could not be ingested at all (the file itself; row-level problems are quarantined)."""


class StoreError(DriftlineError):
    """The feature store could not read or write a table."""


class TrainingError(DriftlineError):
    """A model search or fit could not run on the data given."""


class LockTimeout(DriftlineError):
    """Another process held a lock for longer than we were willing to wait."""


class AuditUnwritableError(DriftlineError):
    """The audit trail cannot take an append (not a folder, not writable): nothing may change unrecorded."""


class KeyMaterialError(DriftlineError):
    """Signing keys are missing, or the passphrase does not open them (never shows the secret)."""


class IntegrityError(DriftlineError):
    """Security failure: something signed or hash-chained does not verify. Never downgrade this."""


class SignatureError(IntegrityError):
    """A signature or a digest does not match what was signed."""


class UntrustedKeyError(IntegrityError):
    """A signature was made by a key that is unknown to the trust store, or revoked."""


class AuditChainError(IntegrityError):
    """The audit trail's hash chain or its checkpoints are broken; names the first bad entry."""
