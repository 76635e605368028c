// Package scan holds the protocol side of the generator: which folders to
// scan and what to write, kept apart from syft so it is tested on its own.
package scan

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Targets maps scan names to folders: the main source under its base name,
// and each folder of extras under its own name. Missing extras are not an
// error, as the protocol asks.
func Targets(source, extras string) (map[string]string, error) {
	st, err := os.Stat(source)
	if err != nil {
		return nil, fmt.Errorf("BUILDKIT_SCAN_SOURCE: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("BUILDKIT_SCAN_SOURCE %s is not a folder", source)
	}
	out := map[string]string{filepath.Base(source): source}
	if extras == "" {
		return out, nil
	}
	entries, err := os.ReadDir(extras)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("BUILDKIT_SCAN_SOURCE_EXTRAS: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() {
			out[e.Name()] = filepath.Join(extras, e.Name())
		}
	}
	return out, nil
}

// Statement is the in-toto statement BuildKit reads back.
type Statement struct {
	Type          string          `json:"_type"`
	PredicateType string          `json:"predicateType"`
	Subject       []any           `json:"subject"`
	Predicate     json.RawMessage `json:"predicate"`
}

// WriteStatement wraps an SPDX document in an in-toto statement at path.
func WriteStatement(path string, spdx json.RawMessage) error {
	data, err := json.Marshal(Statement{
		Type:          "https://in-toto.io/Statement/v0.1",
		PredicateType: "https://spdx.dev/Document",
		Subject:       []any{},
		Predicate:     spdx,
	})
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
