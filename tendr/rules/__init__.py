"""Permission rules: roles, their members, and pure decisions about operations on hosts.

Import from the modules (`tendr.rules.model`, `tendr.rules.decide`,
`tendr.rules.actor`); nothing is re-exported here, so that the name
`tendr.rules.decide` always means the module, not the function.
"""
