package emulator

import (
	"fmt"
	"strings"
	"time"
)

// index gives case-insensitive lookups into the seed.
type index struct {
	tenants    map[string]*Tenant // id and domains, lower case
	users      map[string]*User   // UPN, lower case
	usersByOID map[string]*User
	apps       map[string]*App // client id, lower case
	// appsByObjectID: the application object id (Graph /applications/{id}), lower case.
	appsByObjectID map[string]*App
	mis            []*ManagedIdentity
	orgs           map[string]*Org // name, lower case
	orgsByID       map[string]*Org
}

func buildIndex(s Seed) index {
	ix := index{tenants: map[string]*Tenant{}, users: map[string]*User{}, usersByOID: map[string]*User{},
		apps: map[string]*App{}, appsByObjectID: map[string]*App{}, orgs: map[string]*Org{}, orgsByID: map[string]*Org{}}
	for i := range s.Tenants {
		t := &s.Tenants[i]
		ix.tenants[strings.ToLower(t.ID)] = t
		for _, d := range t.Domains {
			ix.tenants[strings.ToLower(d)] = t
		}
	}
	for i := range s.Users {
		u := &s.Users[i]
		ix.users[strings.ToLower(u.UPN)] = u
		ix.usersByOID[strings.ToLower(u.ObjectID)] = u
	}
	for i := range s.Apps {
		a := &s.Apps[i]
		if a.ObjectID == "" {
			a.ObjectID = a.ClientID
		}
		if a.AppObjectID == "" {
			a.AppObjectID = newGUIDFrom([]byte("application:" + strings.ToLower(a.ClientID)))
		}
		ix.apps[strings.ToLower(a.ClientID)] = a
		ix.appsByObjectID[strings.ToLower(a.AppObjectID)] = a
	}
	for i := range s.ManagedIdentities {
		ix.mis = append(ix.mis, &s.ManagedIdentities[i])
	}
	for i := range s.Orgs {
		o := &s.Orgs[i]
		ix.orgs[strings.ToLower(o.Name)] = o
		ix.orgsByID[strings.ToLower(o.ID)] = o
	}
	return ix
}

func containsFold(list []string, v string) bool {
	for _, s := range list {
		if strings.EqualFold(s, v) {
			return true
		}
	}
	return false
}

// state is everything that changes at run time (and is persisted).
type state struct {
	PATs           map[string]*patRecord      `json:"pats"`
	Refresh        map[string]*refreshRecord  `json:"refreshTokens"`
	Endpoints      map[string]*endpointRecord `json:"endpoints"`
	VariableGroups map[int]*vgRecord          `json:"variableGroups"`
	NextVGID       int                        `json:"nextVariableGroupId"`
	Vaults         map[string]*vaultRecord    `json:"vaults"`
	// SessionsRevoked: user object id (lower case) → when its sign-in
	// sessions were revoked (RevokeSignInSessions).
	SessionsRevoked map[string]time.Time `json:"sessionsRevoked,omitempty"`
	// Audit is the audit log (audit.go), oldest first, bounded by auditRetention.
	Audit []*auditRecord `json:"audit,omitempty"`
	// AppCreds: client id (lower case) → the application's passwords and
	// federated credentials (Graph, graph.go); the token endpoint accepts these.
	AppCreds map[string]*appCreds `json:"appCredentials,omitempty"`

	patHash map[string]string // secret hash -> authorizationId
	pats    *patIndex         // listing order of PATs (patindex.go)
}

func newState() *state {
	return &state{PATs: map[string]*patRecord{}, Refresh: map[string]*refreshRecord{},
		Endpoints: map[string]*endpointRecord{}, VariableGroups: map[int]*vgRecord{}, NextVGID: 1,
		Vaults: map[string]*vaultRecord{}, SessionsRevoked: map[string]time.Time{}, patHash: map[string]string{},
		pats: buildPATIndex(nil)}
}

func (s *state) reindex() {
	if s.PATs == nil {
		s.PATs = map[string]*patRecord{}
	}
	if s.Refresh == nil {
		s.Refresh = map[string]*refreshRecord{}
	}
	if s.Endpoints == nil {
		s.Endpoints = map[string]*endpointRecord{}
	}
	if s.VariableGroups == nil {
		s.VariableGroups = map[int]*vgRecord{}
	}
	if s.NextVGID < 1 {
		s.NextVGID = 1
	}
	if s.Vaults == nil {
		s.Vaults = map[string]*vaultRecord{}
	}
	if s.SessionsRevoked == nil {
		s.SessionsRevoked = map[string]time.Time{}
	}
	s.patHash = map[string]string{}
	for id, p := range s.PATs {
		s.patHash[p.Hash] = id
	}
	s.pats = buildPATIndex(s.PATs)
}

// putPAT stores rec (new or changed in place) and indexes it.
func (s *state) putPAT(rec *patRecord) {
	s.PATs[rec.AuthorizationID] = rec
	s.patHash[rec.Hash] = rec.AuthorizationID
	s.pats.put(rec)
}

// patRecord is a stored PAT; only the hash of its secret is kept.
type patRecord struct {
	AuthorizationID string    `json:"authorizationId"`
	OwnerOID        string    `json:"ownerOid"`
	Org             string    `json:"org"` // org name where it was created
	DisplayName     string    `json:"displayName"`
	Scope           string    `json:"scope"`
	TargetAccounts  []string  `json:"targetAccounts"` // nil = global
	ValidFrom       time.Time `json:"validFrom"`
	ValidTo         time.Time `json:"validTo"`
	Revoked         bool      `json:"revoked,omitempty"`
	Hash            string    `json:"hash"`
}

// refreshRecord is a stored refresh token (by hash).
type refreshRecord struct {
	SubjectOID string    `json:"subjectOid"`
	ClientID   string    `json:"clientId"`
	TenantID   string    `json:"tenantId"`
	Scope      string    `json:"scope"`
	AMR        []string  `json:"amr,omitempty"` // how the user signed in (carried into refreshed tokens)
	IssuedAt   time.Time `json:"issuedAt"`
	LastUsed   time.Time `json:"lastUsed"`
	Revoked    bool      `json:"revoked,omitempty"`
	Rotated    bool      `json:"rotated,omitempty"`
}

// stateFromSeed builds the initial state (PATs, endpoints, groups, vaults of the seed).
func (e *Emulator) stateFromSeed() (*state, error) {
	st := newState()
	now := e.now().UTC()
	for i, sp := range e.seed.PATs {
		u := e.idx.users[strings.ToLower(sp.Owner)]
		o := e.idx.orgs[strings.ToLower(sp.Org)]
		id := sp.AuthorizationID
		if id == "" {
			id = newGUID()
		}
		secret := sp.Token
		if secret == "" {
			secret = e.newPATSecret()
		}
		vf := sp.ValidFrom
		if vf.IsZero() {
			vf = now
		}
		var targets []string
		if !sp.Global {
			targets = []string{o.ID}
		}
		rec := &patRecord{AuthorizationID: id, OwnerOID: u.ObjectID, Org: o.Name, DisplayName: sp.DisplayName,
			Scope: sp.Scope, TargetAccounts: targets, ValidFrom: vf.UTC().Truncate(dotNetTick), ValidTo: sp.ValidTo.UTC().Truncate(dotNetTick), Revoked: sp.Revoked, Hash: hashSecret(secret)}
		if _, dup := st.PATs[id]; dup {
			return nil, fmt.Errorf("emulator: seed pats[%d]: duplicate authorizationId %s", i, id)
		}
		st.PATs[id] = rec
		st.patHash[rec.Hash] = id
	}
	st.pats = buildPATIndex(st.PATs)
	if err := e.seedServices(st); err != nil {
		return nil, err
	}
	e.seedAppCreds(st)
	return st, nil
}
