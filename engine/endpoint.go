package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	cerrdefs "github.com/containerd/errdefs"
	dockerclient "github.com/moby/moby/client"
)

// DefaultContext is the name of the context that DOCKER_HOST, or the local
// socket, stands for.
const DefaultContext = "default"

const defaultHost = "unix:///var/run/docker.sock"

// Endpoint is one engine address with what is needed to reach it.
type Endpoint struct {
	// Context is the Docker context the endpoint came from ("default" for
	// DOCKER_HOST or the local socket).
	Context string `json:"context,omitempty"`
	Host    string `json:"host"`
	// TLSDir holds ca.pem, cert.pem and key.pem when the engine wants TLS.
	TLSDir        string `json:"tlsDir,omitempty"`
	SkipTLSVerify bool   `json:"skipTLSVerify,omitempty"`
}

// Env is the part of the process environment endpoint resolution reads;
// tests pass their own.
type Env func(key string) string

// Current resolves the endpoint the Docker CLI would use: DOCKER_HOST wins
// (as the default context), then DOCKER_CONTEXT, then currentContext in
// $DOCKER_CONFIG/config.json.
func Current(getenv Env) (Endpoint, error) {
	if h := getenv("DOCKER_HOST"); h != "" {
		return fromEnvHost(getenv, h), nil
	}
	name := getenv("DOCKER_CONTEXT")
	if name == "" {
		var err error
		if name, err = currentContextName(getenv); err != nil {
			return Endpoint{}, err
		}
	}
	return Named(getenv, name)
}

// Named resolves a Docker context by name. The name "default" means
// DOCKER_HOST or the local socket.
func Named(getenv Env, name string) (Endpoint, error) {
	if name == "" || name == DefaultContext {
		return fromEnvHost(getenv, getenv("DOCKER_HOST")), nil
	}
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	dir := configDir(getenv)
	data, err := os.ReadFile(filepath.Join(dir, "contexts", "meta", id, "meta.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return Endpoint{}, fmt.Errorf("docker context %q: %w", name, ErrNoContext)
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("reading docker context %q: %w", name, err)
	}
	var meta struct {
		Endpoints map[string]struct {
			Host          string
			SkipTLSVerify bool
		}
	}
	if err := json.Unmarshal(data, &meta); err != nil {
		return Endpoint{}, fmt.Errorf("reading docker context %q: %w", name, err)
	}
	ep, ok := meta.Endpoints["docker"]
	if !ok || ep.Host == "" {
		return Endpoint{}, fmt.Errorf("docker context %q has no docker endpoint", name)
	}
	e := Endpoint{Context: name, Host: ep.Host, SkipTLSVerify: ep.SkipTLSVerify}
	tlsDir := filepath.Join(dir, "contexts", "tls", id, "docker")
	if _, err := os.Stat(filepath.Join(tlsDir, "ca.pem")); err == nil {
		e.TLSDir = tlsDir
	}
	return e, nil
}

// ErrNoContext is returned when a named Docker context does not exist.
var ErrNoContext = cerrdefs.ErrNotFound.WithMessage("no such docker context")

func fromEnvHost(getenv Env, host string) Endpoint {
	if host == "" {
		host = defaultHost
	}
	e := Endpoint{Context: DefaultContext, Host: host}
	if getenv("DOCKER_TLS_VERIFY") != "" || getenv("DOCKER_CERT_PATH") != "" {
		e.TLSDir = getenv("DOCKER_CERT_PATH")
		if e.TLSDir == "" {
			e.TLSDir = filepath.Join(configDir(getenv))
		}
		e.SkipTLSVerify = getenv("DOCKER_TLS_VERIFY") == ""
	}
	return e
}

func configDir(getenv Env) string {
	if d := getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	return filepath.Join(getenv("HOME"), ".docker")
}

// ConfigDir is the Docker CLI's configuration folder.
func ConfigDir(getenv Env) string { return configDir(getenv) }

func currentContextName(getenv Env) (string, error) {
	data, err := os.ReadFile(filepath.Join(configDir(getenv), "config.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return DefaultContext, nil
	}
	if err != nil {
		return "", fmt.Errorf("reading docker config: %w", err)
	}
	var cfg struct {
		CurrentContext string `json:"currentContext"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return "", fmt.Errorf("reading docker config: %w", err)
	}
	if cfg.CurrentContext == "" {
		return DefaultContext, nil
	}
	return cfg.CurrentContext, nil
}

// Client opens an API client to the endpoint. It does not contact the
// engine: the first call does, and negotiates the API version.
func (e Endpoint) Client() (*dockerclient.Client, error) {
	opts := []dockerclient.Opt{dockerclient.WithHost(e.Host), dockerclient.WithAPIVersionNegotiation()}
	if e.TLSDir != "" {
		opts = append(opts, dockerclient.WithTLSClientConfig(
			filepath.Join(e.TLSDir, "ca.pem"),
			filepath.Join(e.TLSDir, "cert.pem"),
			filepath.Join(e.TLSDir, "key.pem")))
	}
	c, err := dockerclient.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("opening docker client for %s: %w", e.Host, err)
	}
	return c, nil
}
