"""The pure core over a loaded workspace: plan, rules in front of hosts and changes, and the
two records tendr keeps (the audit log, the drift history)."""
