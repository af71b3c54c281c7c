"""The gateway: tendr run by a dedicated account that alone holds the client keys,
the workspace and the audit log; technicians reach it over SSH with their own keys
(or through sudo) and may ask it only what tendr's commands and rules allow.

- `session`: whether this process is the gateway, for whom, and what it may be asked.
- `setup`: making a controller a gateway and letting people in (as root).
- `push`: changes to the desired state, as git pushes the rules must allow.
"""
