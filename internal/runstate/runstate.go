// Package runstate is what patrol remembers between runs: the outcome of the
// last run for every credential (rotated, failed with reason, verification
// refused by the consumer), the last success and rotation, and cumulative
// counters. `patrol rotate` records each run's report into it and saves it;
// `patrol status` and the metrics read it. Without it a status taken right
// after a refused verification would say ok (the sinks look fine), and a
// failed run would erase the last success from the metrics.
//
// The file is small JSON, written atomically with mode 0600 (it holds error
// messages, never a secret). A missing file is an empty state; an unreadable
// or corrupt one is reported and replaced by the next save.
package runstate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/atomicfile"
	"github.com/patrol-dev/patrol/internal/rotation"
)

// Version of the file format.
const Version = 1

// MaxSize bounds the file read (a state of thousands of credentials is far
// smaller).
const MaxSize = 8 << 20

// State is the remembered state.
type State struct {
	Version int `json:"version"`
	// LastRun is the last `patrol rotate` that applied a plan.
	LastRun *Run `json:"lastRun,omitempty"`
	// Credentials by lower-case name.
	Credentials map[string]*Credential `json:"credentials,omitempty"`
	// Notifications by notifier name.
	Notifications map[string]*Deliveries `json:"notifications,omitempty"`
}

// Run is one rotation run.
type Run struct {
	At      time.Time `json:"at"`
	Success bool      `json:"success"`
	// Credentials the run handled (all, or those of --only).
	Credentials []string `json:"credentials"`
}

// Credential is what is remembered of one credential.
type Credential struct {
	Name string `json:"name"`
	// Last is the outcome of the last run that handled it.
	Last *rotation.Outcome `json:"last,omitempty"`
	// LastSuccess is when a run last handled it without error.
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	// LastRotation is when a run last delivered a new credential.
	LastRotation time.Time `json:"lastRotation,omitzero"`
	// Rotations counts delivered credentials, over all runs.
	Rotations uint64 `json:"rotations"`
	// Failures counts failed runs by reason, over all runs.
	Failures map[string]uint64 `json:"failures,omitempty"`
}

// Deliveries counts notices of one notifier.
type Deliveries struct {
	Sent   uint64 `json:"sent"`
	Failed uint64 `json:"failed"`
}

// New returns an empty state.
func New() *State { return &State{Version: Version} }

// Load reads the state at path; a missing file is an empty state. On any
// other error the empty state is returned with the error (callers log it and
// carry on: the credentials matter more than their history).
func Load(path string) (*State, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return New(), nil
	}
	if err != nil {
		return New(), fmt.Errorf("state file %s: %w; check rotation.stateFile", path, err)
	}
	defer f.Close()
	var s State
	dec := json.NewDecoder(&limited{r: f, n: MaxSize})
	if err := dec.Decode(&s); err != nil {
		return New(), fmt.Errorf("state file %s is not valid (%v); it is replaced by the next run, delete it to start afresh", path, err)
	}
	if s.Version != Version {
		return New(), fmt.Errorf("state file %s has version %d, this patrol reads version %d; it is replaced by the next run", path, s.Version, Version)
	}
	return &s, nil
}

type limited struct {
	r interface{ Read([]byte) (int, error) }
	n int64
}

func (l *limited) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, fmt.Errorf("larger than %d bytes", MaxSize)
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// Save writes the state atomically, mode 0600, creating its directory (0700)
// when missing.
func (s *State) Save(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("state file %s: %w; check rotation.stateFile", path, err)
	}
	if err := atomicfile.Write(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("state file: %w; check rotation.stateFile", err)
	}
	return nil
}

// Credential returns the remembered state of name (nil when none).
func (s *State) Credential(name string) *Credential {
	if s == nil {
		return nil
	}
	return s.Credentials[strings.ToLower(name)]
}

// Last is the last outcome remembered for name (nil when none).
func (s *State) Last(name string) *rotation.Outcome {
	if c := s.Credential(name); c != nil {
		return c.Last
	}
	return nil
}

// Reverify names the credentials whose last run failed verification
// (rotation.Engine.Reverify).
func (s *State) Reverify() map[string]bool {
	out := map[string]bool{}
	if s == nil {
		return out
	}
	for k, c := range s.Credentials {
		if c.Last.Failed() && c.Last.Reason == "verify" {
			out[k] = true
		}
	}
	return out
}

// Record adds a run's report: every result's outcome, the last success and
// rotation, and the counters. at is when the run ended.
func (s *State) Record(rep rotation.Report, at time.Time) {
	if s.Credentials == nil {
		s.Credentials = map[string]*Credential{}
	}
	run := &Run{At: at.UTC(), Success: true}
	for _, r := range rep.Results {
		key := strings.ToLower(r.Credential)
		c := s.Credentials[key]
		if c == nil {
			c = &Credential{}
			s.Credentials[key] = c
		}
		c.Name = r.Credential
		o := r.Outcome(at)
		c.Last = &o
		run.Credentials = append(run.Credentials, r.Credential)
		switch o.Result {
		case rotation.OutcomeFailed:
			run.Success = false
			if c.Failures == nil {
				c.Failures = map[string]uint64{}
			}
			c.Failures[o.Reason]++
		case rotation.OutcomeRotated:
			c.Rotations++
			c.LastRotation, c.LastSuccess = o.At, o.At
		default:
			c.LastSuccess = o.At
		}
	}
	s.LastRun = run
}

// CountNotice counts one notice of notifier, delivered or not.
func (s *State) CountNotice(notifier string, delivered bool) {
	if s.Notifications == nil {
		s.Notifications = map[string]*Deliveries{}
	}
	d := s.Notifications[notifier]
	if d == nil {
		d = &Deliveries{}
		s.Notifications[notifier] = d
	}
	if delivered {
		d.Sent++
	} else {
		d.Failed++
	}
}

// Names returns the remembered credential keys, sorted.
func (s *State) Names() []string { return slices.Sorted(maps.Keys(s.Credentials)) }

// Lookup is how DefaultPath reads the environment.
type Lookup func(string) (string, bool)

// DefaultPath is where the state lives when rotation.stateFile is not set:
// beside the metrics textfile (<textfile>.state.json) when there is one;
// otherwise in $XDG_STATE_HOME/patrol (default ~/.local/state/patrol), one
// file per patrol.yaml (named after a hash of its absolute path). Inside
// Kubernetes without a textfile it is "" (no state file: a CronJob's Pod
// keeps nothing; the outcome goes to the target Secrets' annotations and
// Events).
func DefaultPath(textfile, configPath string, env Lookup) string {
	if textfile != "" {
		return textfile + ".state.json"
	}
	get := func(k string) string {
		if env == nil {
			return ""
		}
		v, _ := env(k)
		return v
	}
	if get("KUBERNETES_SERVICE_HOST") != "" {
		return ""
	}
	dir := get("XDG_STATE_HOME")
	if dir == "" {
		home := get("HOME")
		if home == "" {
			return ""
		}
		dir = filepath.Join(home, ".local", "state")
	}
	abs, err := filepath.Abs(configPath)
	if err != nil {
		abs = configPath
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(dir, "patrol", "state-"+hex.EncodeToString(sum[:6])+".json")
}
