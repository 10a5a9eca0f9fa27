"""The fault suite (``make soak``): slow and hostile clients, churn, signals (see :mod:`.run`)."""
