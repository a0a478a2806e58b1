"""``sesmon demo``: an embedded AWS (moto), a provisioned SES setup, simulated traffic and the real daemon."""
