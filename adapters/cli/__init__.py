"""The `walsync` command line: thin click commands over the functions the tests call."""
