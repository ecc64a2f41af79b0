"""A module that needs a package that does not exist (used by test_registry)."""

import campaignrec_package_that_does_not_exist  # noqa: F401
