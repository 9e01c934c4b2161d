package emulator

// registerRoutes builds the route table. Routes whose first segment is a
// literal are registered before the Entra routes that start with {tenant}.
func (e *Emulator) registerRoutes() {
	e.registerAdmin()
	e.registerSessionAdmin()
	e.registerDevOps()
	e.registerDiscovery()
	e.registerServices()
	e.registerEndpointProxy()
	e.registerEntra()
}
