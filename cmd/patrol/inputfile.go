package main

import (
	"fmt"
	"io"
	"os"
)

// Limits of the files the endpoint commands read. A file past its limit is
// refused with an error naming it and the limit, before it is parsed (a
// silently truncated file would fail as "unterminated string").
const (
	maxEndpointFile = 4 << 20 // an endpoint or --configuration-file JSON
	maxSecretInput  = 1 << 20 // a secret from --secret-file or stdin
)

// readBounded reads all of r, which is called name in messages, and refuses
// more than limit bytes as a usage error naming flag and name.
func readBounded(r io.Reader, flag, name string, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, usageErrorf("%s %s: %v", flag, name, err)
	}
	if int64(len(b)) > limit {
		return nil, usageErrorf("%s %s is larger than the limit of %s; give a smaller file (is it the right one?)", flag, name, mib(limit))
	}
	return b, nil
}

// readBoundedFile is readBounded on the file at path ("-" = stdin).
func (a *app) readBoundedFile(flag, path string, limit int64) ([]byte, error) {
	if path == "-" {
		return readBounded(a.stdin, flag, "(stdin)", limit)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, usageErrorf("%s %s: %v", flag, path, err)
	}
	defer f.Close()
	return readBounded(f, flag, path, limit)
}

func mib(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
