package emulator

type endpointRecord struct{}
type vgRecord struct{}
type vaultRecord struct{}

func (e *Emulator) seedPhase2(st *state) error { return nil }
func (e *Emulator) registerPhase2()            {}
