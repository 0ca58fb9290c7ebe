"""The signed model registry: keys and trust, OpenSSF model-signing signatures, immutable
versions and aliases. Pure Python (never imports Prefect); importing it has no side effects.

The public names are re-exported here; the statement and digest encodings stay in the private
modules ``_statement`` and ``_digests``. The signature bundle, the DSSE PAE, the key id and the
P-256 check are :mod:`driftline.crypto`'s, shared with governance.
"""

from registry.aliases import AliasChange, PromotionRefused
from registry.keys import KeyRing, SigningKey, resolve_passphrase
from registry.signing import VerifiedModel, sign_model, verify_model
from registry.trust import TrustStore
from registry.versions import ModelRegistry, ModelVersion

__all__ = ["AliasChange", "KeyRing", "ModelRegistry", "ModelVersion", "PromotionRefused",
           "SigningKey", "TrustStore", "VerifiedModel", "resolve_passphrase", "sign_model",
           "verify_model"]
