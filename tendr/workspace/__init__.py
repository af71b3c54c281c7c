"""The workspace's files: the only loader, state and hosts files, the inventory, the schema,
`tendr init` and the baseline every managed host keeps."""
