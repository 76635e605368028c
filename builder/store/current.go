package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/xbuild/xbuild/internal/atomicfile"
)

// current is buildx's current-builder file (store/store.go): the builder
// chosen on the endpoint Key, or on every endpoint when Global.
type current struct {
	Key    string
	Name   string
	Global bool
}

// EndpointKey is the key buildx files the current builder under
// (dockerutil.GetCurrentEndpoint): the Docker context's name, or the
// engine's host for the default context.
func EndpointKey(contextName, host string) string {
	if contextName != "" && contextName != "default" {
		return contextName
	}
	return host
}

// defaultFile is defaults/<hash>, where `buildx use --default` keeps an
// endpoint's own default builder.
func defaultFile(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])[:20]
}

// Current is the builder chosen with `use`, found as buildx finds it: the
// one chosen for every endpoint, else the one chosen on this endpoint,
// else this endpoint's default. Empty means none (the Docker context's
// builder), also when the chosen builder is gone.
func (t *Txn) Current() (string, error) {
	c, err := t.readCurrent()
	if err != nil {
		return "", err
	}
	if c.Name != "" {
		if c.Global && t.exists(c.Name) {
			return strings.ToLower(c.Name), nil
		}
		if c.Key == t.s.key {
			if t.exists(c.Name) {
				return strings.ToLower(c.Name), nil
			}
			return "", nil
		}
	}
	p := t.s.path(defaultsDir, defaultFile(t.s.key))
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading default builder %s: %w", p, err)
	}
	if name := strings.TrimSpace(string(data)); t.exists(name) {
		return strings.ToLower(name), nil
	}
	return "", nil
}

func (t *Txn) exists(name string) bool {
	file, ok := fileName(name)
	if !ok {
		return false
	}
	_, err := os.Stat(t.s.path(instancesDir, file))
	return err == nil
}

func (t *Txn) readCurrent() (current, error) {
	p := t.s.path("current")
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return current{}, nil
	}
	if err != nil {
		return current{}, fmt.Errorf("reading current builder: %w", err)
	}
	var c current
	if err := json.Unmarshal(data, &c); err != nil {
		return current{}, fmt.Errorf("reading current builder: %s is corrupt: %w", p, err)
	}
	return c, nil
}

// SetCurrent selects a builder on every endpoint, as `buildx use --global`
// does: xbuild has always kept one current builder whatever the Docker
// context. Empty selects the endpoint's Docker context builder, as
// `buildx use default`. Both drop the endpoint's default, as buildx's use
// does.
func (t *Txn) SetCurrent(name string) error {
	c := current{Key: t.s.key}
	if name != "" {
		file, ok := fileName(name)
		if !ok {
			return fmt.Errorf("%w %q", ErrNotFound, name)
		}
		c.Name, c.Global = file, true
	}
	if err := t.writeCurrent(c); err != nil {
		return err
	}
	p := t.s.path(defaultsDir, defaultFile(t.s.key))
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("resetting default builder %s: %w", p, err)
	}
	return nil
}

func (t *Txn) writeCurrent(c current) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(t.s.path("current"), data, 0o600); err != nil {
		return fmt.Errorf("saving current builder: %w", err)
	}
	return nil
}

// forget resets current when it names a removed builder, keeping its
// endpoint as buildx's own reset does.
func (t *Txn) forget(file string) error {
	c, err := t.readCurrent()
	if err != nil || !strings.EqualFold(c.Name, file) {
		return nil // a corrupt file names nothing to forget; Current reports it
	}
	return t.writeCurrent(current{Key: c.Key})
}
