"""Gradient checks: `core` is the centered finite-difference machinery, `suite` the checks `gradcheck` runs."""
