"""SSH sessions to hosts through pyinfra, and tunnels through a client's gateway."""
