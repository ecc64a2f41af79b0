"""Privacy: pseudonymisation and personal fields at the import edge, consent, erasure,
retention, and differentially private aggregates (``docs/privacy.md``).

Submodules are imported where used (``campaignrec.privacy.erasure`` pulls in the store and the
models' artifact format); this package root stays cheap.
"""

from campaignrec.privacy.pseudonymise import (
    Pseudonymiser,
    pseudonymise_user_id,
    pseudonymiser_from_settings,
)

__all__ = ["Pseudonymiser", "pseudonymise_user_id", "pseudonymiser_from_settings"]
