package emulator

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"sigs.k8s.io/yaml"
)

// decodeSeedFile decodes a seed file. A JSON file (its first non-blank byte
// is '{') is decoded straight from the file by encoding/json; anything else
// goes through the YAML decoder, which converts the whole document to JSON
// first (a 100,000-PAT seed: seconds and ~1 GB allocated as YAML, a fraction
// of a second as JSON; BenchmarkLoadSeed). Both refuse unknown fields. The
// JSON path does not detect duplicate keys (the last one wins), the YAML
// path does.
func decodeSeedFile(path string) (Seed, error) {
	f, err := os.Open(path)
	if err != nil {
		return Seed{}, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	var s Seed
	if first, err := firstNonBlank(br); err == nil && first == '{' {
		dec := json.NewDecoder(br)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			return Seed{}, err
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return Seed{}, fmt.Errorf("unexpected data after the seed's JSON object")
		}
		return s, nil
	}
	b, err := io.ReadAll(br)
	if err != nil {
		return Seed{}, err
	}
	if err := yaml.UnmarshalStrict(b, &s); err != nil {
		return Seed{}, err
	}
	return s, nil
}

// firstNonBlank returns the first byte of r that is not white space, without consuming it.
func firstNonBlank(r *bufio.Reader) (byte, error) {
	for {
		b, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return b, r.UnreadByte()
	}
}
