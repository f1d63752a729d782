"""Staged publishing (issue 13): a trusted-publishing upload waits for a maintainer's 2FA approval.

area.py (where files wait), rules.py (which uploads wait; refusal codes),
intake.py (the gateway stages), manage.py (the per-project setting),
review.py (list, show, reject, sweep), proof.py (the approval's own second
factor), approve.py (approve and forward once), backend.py (the forwarder),
settings.py (MINTGATE_STAGING_*), wiring.py (built from settings).
"""
