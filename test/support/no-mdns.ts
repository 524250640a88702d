// Preloaded by bunfig.toml for every test file: a coordinator or client started in-process (or a
// child that inherits this environment) does no mDNS on the host's real interfaces.
process.env['GRIDX_DISCOVERY'] ??= '0'
