package stacks

// LoadConfigAt exposes the clock of LoadConfig to the tests of date-dependent rules.
var LoadConfigAt = loadConfig
