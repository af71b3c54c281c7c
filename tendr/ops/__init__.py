"""Everything that touches hosts: connecting and planning, apply, run and do, the shell,
logs, diagnose, backup check, onboarding; and grants."""
