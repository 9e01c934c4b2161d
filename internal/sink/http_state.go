package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/patrol-dev/patrol/internal/atomicfile"
)

// HTTPState is what an http sink recorded delivering (an HTTP API cannot
// be asked what it holds).
type HTTPState struct {
	Credential      string    `json:"credential"`
	AuthorizationID string    `json:"authorizationId,omitempty"`
	ValidTo         time.Time `json:"validTo"`
	RotatedAt       time.Time `json:"rotatedAt"`
	Status          int       `json:"status"`
}

// HTTPStateStore keeps an http sink's record. The default is the sink's
// stateFile, with stateFile.next while a delivery is in flight; the
// controller keeps it in the PersonalAccessToken's status (Deps.HTTPState).
type HTTPStateStore interface {
	// Load returns the last delivery recorded (nil: none). unknown reports
	// a delivery whose outcome is unknown (or a record that cannot be
	// read): the tool may hold either credential.
	Load(ctx context.Context) (st *HTTPState, unknown bool, err error)
	// Begin records a delivery about to be sent; the request is sent only
	// once it returns nil.
	Begin(ctx context.Context, st HTTPState) error
	// Abort drops the delivery in flight: the tool refused it, or nothing
	// reached it.
	Abort(ctx context.Context) error
	// Commit records st as delivered and ends the delivery in flight.
	Commit(ctx context.Context, st HTTPState) error
}

// fileHTTPState is the stateFile store (JSON, 0600, atomic).
type fileHTTPState struct{ path string }

func (f fileHTTPState) Load(context.Context) (*HTTPState, bool, error) {
	if _, err := os.Stat(f.path + ".next"); err == nil {
		return nil, true, nil
	}
	b, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read stateFile: %w", err)
	}
	var st HTTPState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, true, nil
	}
	return &st, false, nil
}

func (f fileHTTPState) Begin(_ context.Context, st HTTPState) error {
	next := f.path + ".next"
	if err := f.write(next, st); err != nil {
		return fmt.Errorf("cannot record the delivery in %s: %w", next, err)
	}
	return nil
}

func (f fileHTTPState) Abort(context.Context) error { return os.Remove(f.path + ".next") }

func (f fileHTTPState) Commit(_ context.Context, st HTTPState) error {
	if err := f.write(f.path, st); err != nil {
		return fmt.Errorf("recording it in stateFile %s failed: %w", f.path, err)
	}
	_ = os.Remove(f.path + ".next")
	return nil
}

func (f fileHTTPState) write(path string, st HTTPState) error {
	b, _ := json.MarshalIndent(st, "", "  ")
	return atomicfile.Write(path, append(b, '\n'), 0o600)
}
