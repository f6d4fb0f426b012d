"""helper: live conversation analysis, guidance, success patterns, experiments."""
