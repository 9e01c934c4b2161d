package main

// The endpointproxy runner registers itself with the emulator, so that
// `patrol emulator` answers POST …/_apis/serviceendpoint/endpointproxy by
// running data sources with patrol's engine (see docs/emulator.md).
import _ "github.com/patrol-dev/patrol/internal/emulator/endpointproxy"
