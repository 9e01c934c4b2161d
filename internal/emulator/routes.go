package emulator

// registerRoutes builds the route table. Routes whose first segment is a
// literal are registered before the Entra routes that start with {tenant}.
func (e *Emulator) registerRoutes() {
	e.registerAdmin()
	e.registerSessionAdmin()
	e.registerDevOps()
	e.registerGraphUsers()
	e.registerAudit()
	e.registerDiscovery()
	e.registerServices()
	e.registerEndpointProxy()
	e.registerGraph()
	e.registerGraphDirectory()
	e.registerEntra()
}

// RouteInfo is one entry of the route table.
type RouteInfo struct {
	Method   string // GET, POST, …
	Template string // e.g. /devops/{org}/_apis/serviceendpoint/types
	Area     string // entra, ado, kv, graph, admin
}

// Key is "METHOD template", the form Counters uses.
func (r RouteInfo) Key() string { return r.Method + " " + r.Template }

// Routes lists every route the emulator serves, in matching order.
func (e *Emulator) Routes() []RouteInfo {
	out := make([]RouteInfo, 0, len(e.routes))
	for _, rt := range e.routes {
		out = append(out, RouteInfo{Method: rt.method, Template: rt.tmpl, Area: rt.area})
	}
	return out
}
